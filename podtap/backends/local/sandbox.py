"""A pod sandbox: its namespaces held by the pause process, plus a veth on the bridge."""

from __future__ import annotations

import asyncio
import ipaddress
import json
import signal
import sys
from dataclasses import dataclass
from pathlib import Path

from podtap.backends.local.network import CLUSTER_DOMAIN, GATEWAY, attach_pod
from podtap.core.resolvconf import pod_resolv_conf
from podtap.net.namespaces import enter_pod_argv
from podtap.net.process import die_with_parent


@dataclass(frozen=True, slots=True)
class Mount:
    source: Path
    target: str
    read_only: bool


def hosts_file(*, ip: str, hostname: str, fqdn: str | None) -> str:
    names = f"{fqdn} {hostname}" if fqdn else hostname
    return f"127.0.0.1\tlocalhost\n::1\tlocalhost ip6-localhost\n{ip}\t{names}\n"


def runtime_paths() -> list[str]:
    """What stands in for the image here: podtap's own install (the interpreter's prefix and
    the source tree of an editable install), which an agent or operator pod runs. A volume
    mounted over one of its parents (an emptyDir at /tmp, when podtap lives under /tmp) must
    not hide it, as no volume hides an image's /usr."""
    import podtap

    found = {sys.prefix, str(Path(podtap.__file__).resolve().parents[1])}
    return sorted(p for p in found if p != "/")


class SandboxFailed(RuntimeError):
    pass


class Sandbox:
    """Network, mount, UTS and PID namespaces of one pod (`host_pid`: the node's PID
    namespace instead of its own, as `hostPID: true` asks)."""

    def __init__(
        self,
        *,
        directory: Path,
        hostname: str,
        ip: ipaddress.IPv4Address,
        index: int,
        host_pid: bool = False,
    ) -> None:
        self.directory = directory
        self.host_pid = host_pid
        self.hostname = hostname
        self.ip = ip
        self.index = index
        self._proc: asyncio.subprocess.Process | None = None

    @property
    def pid(self) -> int:
        """Host pid of the process whose namespaces the pod's containers join."""
        assert self._proc is not None, "sandbox not started"
        return self._proc.pid

    def pid_or_none(self) -> int | None:
        return None if self._proc is None else self._proc.pid

    @property
    def netns_path(self) -> str:
        return f"/proc/{self.pid}/ns/net"

    def enter_argv(self, *, workdir: str | None = None) -> list[str]:
        """nsenter arguments that run a command inside this pod."""
        return enter_pod_argv(self.pid, workdir=workdir)

    async def start(self, *, namespace: str, fqdn: str | None, mounts: list[Mount]) -> None:
        self.directory.mkdir(parents=True, exist_ok=True)
        files = {
            "resolv.conf": pod_resolv_conf(
                nameserver=str(GATEWAY), namespace=namespace, domain=CLUSTER_DOMAIN
            ),
            "hosts": hosts_file(ip=str(self.ip), hostname=self.hostname, fqdn=fqdn),
            "hostname": self.hostname + "\n",
        }
        all_mounts = list(mounts)
        for name, text in files.items():
            (self.directory / name).write_text(text)
            all_mounts.append(Mount(self.directory / name, f"/etc/{name}", read_only=False))
        spec = {
            "hostname": self.hostname,
            "scratch": str(self.directory / "scratch"),
            "runtime": runtime_paths(),
            "mounts": [
                {"source": str(m.source), "target": m.target, "read_only": m.read_only}
                for m in all_mounts
            ],
        }
        (self.directory / "sandbox.json").write_text(json.dumps(spec))
        self._proc = await asyncio.create_subprocess_exec(
            "unshare",
            "--net",
            "--mount",
            "--uts",
            *([] if self.host_pid else ["--pid"]),
            "--fork",
            "--kill-child=SIGKILL",
            "--propagation",
            "private",
            sys.executable,
            "-m",
            "podtap.backends.local.pause",
            str(self.directory / "sandbox.json"),
            stdin=asyncio.subprocess.DEVNULL,
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.STDOUT,
            preexec_fn=die_with_parent,
        )
        assert self._proc.stdout is not None
        try:
            line = await asyncio.wait_for(self._proc.stdout.readline(), timeout=20)
        except TimeoutError:
            line = b"error: the sandbox did not start within 20 s"
        if line.strip() != b"ready":
            rest = b"" if self._proc.returncode is None else await self._proc.stdout.read()
            await self.stop()
            raise SandboxFailed((line + rest).decode(errors="replace").strip() or "exited")
        await attach_pod(sandbox_pid=self.pid, index=self.index, ip=self.ip)

    async def stop(self) -> None:
        proc, self._proc = self._proc, None
        if proc is None or proc.returncode is not None:
            return
        proc.send_signal(signal.SIGKILL)
        await proc.wait()
