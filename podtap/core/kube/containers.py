"""From a pod's `containerStatuses[].containerID` to the container's main process (sans-IO).

An agent pod runs with `hostPID` on the target's node and must find the target container's
process to enter its network namespace. The container runtime is not asked (no CRI socket is
mounted): the kernel already says which cgroup every process is in, and every runtime names
the container's cgroup after the container id. So the id is looked for, as a whole path
component, in the text of `/proc/PID/cgroup`:

- cgroupfs driver (v1 and v2): `.../kubepods/besteffort/pod<uid>/<id>`, docker's `/docker/<id>`;
- systemd driver: `.../kubepods-besteffort-pod<uid>.slice/cri-containerd-<id>.scope`,
  `crio-<id>.scope`, `docker-<id>.scope`; containerd under cgroup v1 may also write the
  unconverted `kubepods-...-pod<uid>.slice:cri-containerd:<id>`;
- nested clusters (kind, k3d, k3s in docker) only put more components in front, an agent in
  its own cgroup namespace (cgroup v2) sees `/../../...` in front, and a process may sit in a
  sub-cgroup of its container (`crio-<id>.scope/container`).

CRI-O's monitor lives in `crio-conmon-<id>.scope`: it carries the id but runs on the host, in
the host's namespaces, so it must not match. Comparing whole components (after the runtime's
prefix) rather than searching the id as a substring is what keeps it out.

The embedded cluster's containers are local processes: `podtap://PID` names the pid itself.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass

RUNTIMES = ("containerd", "cri-o", "docker", "podtap")
"""The `containerID` schemes understood (`podtap` is the embedded cluster's)."""

_PREFIXES = ("cri-containerd", "crio", "docker")
"""What a systemd-driver scope puts before the id: `<prefix>-<id>.scope`."""

_HEX = re.compile(r"[0-9a-f]+")


class ContainerIdError(ValueError):
    """A `containerID` that does not name a container this resolver can find."""


@dataclass(frozen=True, slots=True, kw_only=True)
class ContainerRef:
    """A container as its pod status names it: the runtime and the runtime's id."""

    runtime: str
    id: str

    @property
    def pid(self) -> int | None:
        """The process itself, for the embedded cluster (`podtap://PID`); else None."""
        return int(self.id) if self.runtime == "podtap" else None

    def __str__(self) -> str:
        return f"{self.runtime}://{self.id}"


def parse_container_id(text: str) -> ContainerRef:
    """`containerd://HEX`, `cri-o://HEX`, `docker://HEX` or `podtap://PID` as a reference."""
    runtime, sep, ident = text.partition("://")
    if not text:
        raise ContainerIdError("the container has no containerID yet: wait until it is running")
    if not sep or runtime not in RUNTIMES:
        known = ", ".join(f"{r}://" for r in RUNTIMES)
        raise ContainerIdError(f"containerID {text!r} is not one of {known}: unsupported runtime")
    valid = ident.isdigit() and int(ident) > 0 if runtime == "podtap" else _HEX.fullmatch(ident)
    if not valid:
        what = "a pid" if runtime == "podtap" else "a hex id"
        raise ContainerIdError(f"containerID {text!r} does not end in {what}")
    return ContainerRef(runtime=runtime, id=ident)


def cgroup_paths(text: str) -> list[str]:
    """The paths of a `/proc/PID/cgroup` file: one per v1 hierarchy, `0::PATH` for v2."""
    out: list[str] = []
    for line in text.splitlines():
        parts = line.split(":", 2)
        if len(parts) == 3 and parts[2]:
            out.append(parts[2])
    return out


def _names_container(component: str, ident: str) -> bool:
    if component == ident:
        return True
    if ":" in component:  # containerd's unconverted systemd path: SLICE:PREFIX:ID
        parts = component.split(":")
        return len(parts) == 3 and parts[2] == ident and parts[1] in _PREFIXES
    stem = component.removesuffix(".scope")
    return any(stem == f"{prefix}-{ident}" for prefix in _PREFIXES)


def in_container(cgroup_text: str, ref: ContainerRef) -> bool:
    """Whether a process with this `/proc/PID/cgroup` text runs in the container `ref`."""
    return any(
        _names_container(component, ref.id)
        for path in cgroup_paths(cgroup_text)
        for component in path.split("/")
    )


@dataclass(frozen=True, slots=True, kw_only=True)
class Proc:
    """What the choice of the main process needs to know of one process of the container."""

    pid: int
    ppid: int
    start: int
    """Start time in clock ticks since boot (field 22 of /proc/PID/stat)."""


def parse_stat(pid: int, text: str) -> Proc:
    """One `/proc/PID/stat` line. The command name is in parentheses and may hold spaces and
    parentheses itself, so the fields are counted from the last `)`."""
    fields = text[text.rindex(")") + 2 :].split()
    return Proc(pid=pid, ppid=int(fields[1]), start=int(fields[19]))


def main_process(procs: Iterable[Proc]) -> int | None:
    """The container's main process among its processes: one whose parent is not in the
    container (the runtime's shim is outside). `exec`'d processes are roots too (their parent
    is the shim as well): the first started wins, the lowest pid on a tie."""
    members = list(procs)
    inside = {p.pid for p in members}
    roots = [p for p in members if p.ppid not in inside]
    if not roots:
        return None
    return min(roots, key=lambda p: (p.start, p.pid)).pid
