"""What /proc tells about another process."""

from __future__ import annotations

import contextlib
import ipaddress
import os
import struct
from dataclasses import dataclass
from pathlib import Path

from podtap.core.kube.containers import in_container, main_process, parse_container_id, parse_stat


def read_environ(pid: int) -> dict[str, str]:
    """The environment `pid` started with (names and values as the OS gives them)."""
    raw = Path(f"/proc/{pid}/environ").read_bytes()
    pairs = (item.split(b"=", 1) for item in raw.split(b"\0") if b"=" in item)
    return {os.fsdecode(k): os.fsdecode(v) for k, v in pairs}


@dataclass(frozen=True, slots=True)
class Listener:
    """A listening TCP socket: its port, bound address and socket inode."""

    port: int
    address: str
    inode: int

    @property
    def loopback(self) -> bool:
        ip = ipaddress.ip_address(self.address)
        if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
            ip = ip.ipv4_mapped
        return ip.is_loopback


def _proc_address(hex_address: str) -> str:
    """An address as /proc/net/tcp{,6} prints it: 32-bit words in host byte order."""
    words = [int(hex_address[i : i + 8], 16) for i in range(0, len(hex_address), 8)]
    packed = b"".join(struct.pack("=I", w) for w in words)
    return str(ipaddress.ip_address(packed))


def parse_listeners(table: str) -> list[Listener]:
    """The listening sockets (state 0A) of one /proc/net/tcp or tcp6 table."""
    out: list[Listener] = []
    for line in table.splitlines()[1:]:
        fields = line.split()
        if len(fields) > 9 and fields[3] == "0A":
            address, port = fields[1].rsplit(":", 1)
            out.append(Listener(int(port, 16), _proc_address(address), int(fields[9])))
    return out


def tcp_listeners(pid: int, *, skip_own: bool = False) -> list[Listener] | None:
    """What listens on TCP in the network namespace of `pid` (with `skip_own`: except the
    sockets `pid` holds itself); None once the process is gone."""
    try:
        tables = [Path(f"/proc/{pid}/net/{t}").read_text() for t in ("tcp", "tcp6")]
    except (FileNotFoundError, ProcessLookupError):
        return None
    own: set[int] = set()
    with contextlib.suppress(FileNotFoundError, ProcessLookupError):
        for fd in os.listdir(f"/proc/{pid}/fd") if skip_own else ():
            with contextlib.suppress(OSError):
                link = os.readlink(f"/proc/{pid}/fd/{fd}")
                if link.startswith("socket:["):
                    own.add(int(link[8:-1]))
    return [x for table in tables for x in parse_listeners(table) if x.inode not in own]


class ContainerNotFound(LookupError):
    """No process on this node belongs to the container a pod status names."""


def container_pid(container_id: str, *, proc: Path = Path("/proc")) -> int:
    """The main process of the container `containerStatuses[].containerID` names, found in
    `proc` (the node's /proc: the agent runs with hostPID). `podtap://PID` is the pid itself.
    Raises ContainerIdError for an id it cannot read, ContainerNotFound when no process has it."""
    ref = parse_container_id(container_id)
    if ref.pid is not None:
        if not (proc / str(ref.pid)).is_dir():
            raise ContainerNotFound(f"container {ref}: process {ref.pid} is gone (pod restarted?)")
        return ref.pid
    members = []
    for entry in os.scandir(proc):
        if not entry.name.isdigit():
            continue
        with contextlib.suppress(FileNotFoundError, ProcessLookupError):  # exited meanwhile
            if in_container((proc / entry.name / "cgroup").read_text(), ref):
                stat = (proc / entry.name / "stat").read_text()
                members.append(parse_stat(int(entry.name), stat))
    pid = main_process(members)
    if pid is None:
        raise ContainerNotFound(
            f"no process in {proc} belongs to {ref.runtime} container {ref.id[:12]}: run the agent "
            "on the pod's node with hostPID: true (or check the container is still running)"
        )
    return pid
