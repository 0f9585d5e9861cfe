"""Starting and stopping a node process from the host."""

from __future__ import annotations

import asyncio
import contextlib
import os
import shutil
import signal
import stat
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

from podtap.backends.local import apiaccess
from podtap.backends.local.client import NodeClient
from podtap.backends.local.paths import ClusterPaths, check_private
from podtap.net.procfs import read_environ

REQUIRED_TOOLS = {
    "ip": "iproute2",
    "nft": "nftables",
    "unshare": "util-linux",
    "nsenter": "util-linux",
    "mount": "mount",
}


class NodeStartFailed(RuntimeError):
    pass


def missing_tools() -> list[str]:
    return [
        f"{tool} (apt-get install {pkg})"
        for tool, pkg in REQUIRED_TOOLS.items()
        if shutil.which(tool) is None
    ]


def node_argv(paths: ClusterPaths, *, api_fd: int) -> list[str]:
    userns = ["--user", "--map-root-user"] if os.geteuid() != 0 else []
    return [
        "unshare",
        "--net",
        "--mount",
        "--propagation",
        "private",
        *userns,
        sys.executable,
        "-m",
        "podtap.backends.local.daemon",
        "--state",
        str(paths.root),
        "--api-fd",
        str(api_fd),
    ]


MARK = "PODTAP_CLUSTER_ROOT"  # in the environment of a cluster's node


def _running(pid_file: Path) -> int | None:
    """The pid recorded in `pid_file` if the file is ours (nobody else chooses what we
    stop) and that process still runs as this cluster's (a reused pid is not it)."""
    try:
        st = os.lstat(pid_file)
        pid = int(pid_file.read_text())
        env = read_environ(pid)
    except (OSError, ValueError):
        return None
    ours = stat.S_ISREG(st.st_mode) and st.st_uid == os.geteuid()
    return pid if ours and env.get(MARK) == str(pid_file.parent) else None


def _env(paths: ClusterPaths) -> dict[str, str]:
    return {**os.environ, MARK: str(paths.root)}


async def start_node(paths: ClusterPaths, *, api_port: int = 0, timeout: float = 30.0) -> int:
    """Start the node in the background and wait for its API; returns its pid. The node
    serves the Kubernetes API on 127.0.0.1:`api_port` (0: the port it had, else any), on a
    socket bound here in the host's namespace (`apiaccess`), and the admin kubeconfig says so."""
    if missing := missing_tools():
        raise NodeStartFailed("podtap local needs: " + ", ".join(missing))
    paths.make()
    apiaccess.ensure_ca(paths)
    try:
        listening = apiaccess.listen(paths, port=api_port)
    except OSError as exc:
        raise NodeStartFailed(str(exc)) from None
    with listening, open(paths.node_log, "ab") as log:
        apiaccess.write_admin_kubeconfig(paths, port=listening.getsockname()[1])
        proc = subprocess.Popen(
            node_argv(paths, api_fd=listening.fileno()),
            env=_env(paths),
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=log,
            start_new_session=True,
            pass_fds=(listening.fileno(),),
        )
    paths.pid_file.write_text(str(proc.pid))
    client = NodeClient(paths)
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            tail = paths.node_log.read_text(errors="replace").splitlines()[-15:]
            raise NodeStartFailed("the node exited at start:\n" + "\n".join(tail))
        if await client.healthy():
            return proc.pid
        await asyncio.sleep(0.1)
    proc.kill()
    raise NodeStartFailed(f"the node did not answer within {timeout:.0f} s; see {paths.node_log}")


async def _stop_pid(pid: int | None, *, timeout: float) -> None:
    """SIGTERM, wait, then SIGKILL the process group."""
    if pid is None:
        return
    with contextlib.suppress(ProcessLookupError):
        os.kill(pid, signal.SIGTERM)
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        with contextlib.suppress(ChildProcessError):
            os.waitpid(pid, os.WNOHANG)
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            return
        await asyncio.sleep(0.05)
    with contextlib.suppress(ProcessLookupError):
        os.killpg(pid, signal.SIGKILL)


def node_pid(paths: ClusterPaths) -> int | None:
    return _running(paths.pid_file)


@dataclass(frozen=True, slots=True)
class Part:
    """The node as `podtap local status` tells it."""

    name: str
    pid: int | None  # it runs
    recorded: int | None  # what its pid file names, running or not

    def __str__(self) -> str:
        if self.pid is not None:
            return f"{self.name}: running (pid {self.pid})"
        if self.recorded is not None:
            return f"{self.name}: dead (pid {self.recorded} is gone)"
        return f"{self.name}: not running"


def parts(paths: ClusterPaths) -> list[Part]:
    def recorded(pid_file: Path) -> int | None:
        with contextlib.suppress(OSError, ValueError):
            return int(pid_file.read_text())
        return None

    return [Part("node", _running(paths.pid_file), recorded(paths.pid_file))]


async def stop_node(paths: ClusterPaths, *, timeout: float = 20.0) -> bool:
    """Stop the node, and its pods with it (SIGTERM: it shuts down gracefully; SIGKILL after
    `timeout`), and remove the cluster's state. True if the node ran."""
    check_private(check_private(paths.root.parent.parent) / "local" / paths.name)
    pid = _running(paths.pid_file)
    await _stop_pid(pid, timeout=timeout)
    shutil.rmtree(paths.root, ignore_errors=True)
    return pid is not None
