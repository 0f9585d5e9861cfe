"""A container's Linux capabilities and user, as a container runtime sets them (pure).

containerd gives a container the default set below; `securityContext.capabilities` adds
and drops names (`ALL` meaning every one, applied before the single names, as the CRI does), and
`privileged: true` grants every capability. The node cannot give more than it holds, so the
result is cut to its own bounding set. For a root process the runtime sets the bounding,
inheritable and ambient sets (so exec'd programs keep them); for another user only the
bounding set, the permitted and effective sets being empty after exec as under runc.
util-linux `setpriv` applies them between nsenter and the container's program.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

# The kernel's capability numbers (linux/capability.h), by index.
NAMES = [
    "CHOWN",
    "DAC_OVERRIDE",
    "DAC_READ_SEARCH",
    "FOWNER",
    "FSETID",
    "KILL",
    "SETGID",
    "SETUID",
    "SETPCAP",
    "LINUX_IMMUTABLE",
    "NET_BIND_SERVICE",
    "NET_BROADCAST",
    "NET_ADMIN",
    "NET_RAW",
    "IPC_LOCK",
    "IPC_OWNER",
    "SYS_MODULE",
    "SYS_RAWIO",
    "SYS_CHROOT",
    "SYS_PTRACE",
    "SYS_PACCT",
    "SYS_ADMIN",
    "SYS_BOOT",
    "SYS_NICE",
    "SYS_RESOURCE",
    "SYS_TIME",
    "SYS_TTY_CONFIG",
    "MKNOD",
    "LEASE",
    "AUDIT_WRITE",
    "AUDIT_CONTROL",
    "SETFCAP",
    "MAC_OVERRIDE",
    "MAC_ADMIN",
    "SYSLOG",
    "WAKE_ALARM",
    "BLOCK_SUSPEND",
    "AUDIT_READ",
    "PERFMON",
    "BPF",
    "CHECKPOINT_RESTORE",
]

# containerd's (and Docker's) default set for a container.
DEFAULT = frozenset(
    [
        "CHOWN",
        "DAC_OVERRIDE",
        "FSETID",
        "FOWNER",
        "MKNOD",
        "NET_RAW",
        "SETGID",
        "SETUID",
        "SETFCAP",
        "SETPCAP",
        "NET_BIND_SERVICE",
        "SYS_CHROOT",
        "KILL",
        "AUDIT_WRITE",
    ]
)


def normalise(name: str) -> str:
    """`net_admin`, `CAP_NET_ADMIN` -> `NET_ADMIN` (the CRI accepts either form)."""
    upper = name.upper()
    return upper.removeprefix("CAP_")


def unknown(names: list[str]) -> list[str]:
    """The names in `names` that are neither a capability nor ALL."""
    return [n for n in names if normalise(n) not in NAMES and normalise(n) != "ALL"]


def capability_set(*, add: list[str], drop: list[str], privileged: bool) -> frozenset[str]:
    """The container's capabilities before the node's own limit."""
    if privileged:
        return frozenset(NAMES)
    adds = {normalise(n) for n in add}
    drops = {normalise(n) for n in drop}
    # containerd applies ALL first, then each name: drop ALL + add NET_ADMIN is NET_ADMIN
    caps = set(NAMES) if "ALL" in adds else set() if "ALL" in drops else set(DEFAULT)
    return frozenset((caps | adds) - drops - {"ALL"})


def mask(caps: frozenset[str]) -> int:
    """The bit mask /proc/PID/status shows for `caps` (CapBnd, CapEff, ...)."""
    return sum(1 << NAMES.index(c) for c in caps)


def held(mask_hex: str) -> frozenset[str]:
    """The known capabilities in a /proc status mask."""
    bits = int(mask_hex, 16)
    return frozenset(n for i, n in enumerate(NAMES) if bits >> i & 1)


def node_bounding() -> frozenset[str]:
    """The node's own bounding set: what it can hand to a container."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("CapBnd:"):
            return held(line.split()[1])
    return frozenset(NAMES)


@dataclass(frozen=True, slots=True)
class Identity:
    """What a container's processes run as."""

    caps: frozenset[str]
    uid: int = 0
    gid: int | None = None
    no_new_privs: bool = False
    read_only_root: bool = False


READ_ONLY_ROOT = [
    *("unshare", "--mount", "--propagation", "private"),
    *("sh", "-c", 'mount -o bind,remount,ro / && exec "$@"', "sh"),
]
"""Runs the rest in a mount namespace of its own whose root is read-only
(`readOnlyRootFilesystem`); the pod's volumes, mounts of their own, stay as they are. unshare
and sh exec, so the program keeps the pid the node knows."""


def setpriv_argv(identity: Identity) -> list[str]:
    """`setpriv ... --` that leaves a process with `identity` (then exec's the program).

    The program is SIGKILLed when its launcher dies (``--pdeathsig``, set after the
    credentials that would clear it): the node's death takes every container with it, as
    a pod's own PID namespace does, also for a ``hostPID`` pod, which has none."""
    names = sorted(identity.caps, key=NAMES.index)
    listed = "-all" + "".join(f",+{n.lower()}" for n in names)
    argv = ["setpriv", "--pdeathsig=KILL", f"--bounding-set={listed}"]
    if identity.uid == 0:
        argv += [f"--inh-caps={listed}", f"--ambient-caps={listed}"]
    else:
        argv += ["--inh-caps=-all", f"--reuid={identity.uid}"]
    if identity.gid is not None or identity.uid != 0:
        argv += [f"--regid={identity.gid if identity.gid is not None else 0}", "--clear-groups"]
    if identity.no_new_privs:
        argv.append("--no-new-privs")
    return [*argv, "--"]
