"""procfs.container_pid: the embedded cluster's `podtap://PID` against this machine's /proc,
the runtimes' ids against a /proc tree laid out as a node's (shim, pause, monitor, exec)."""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from podtap.core.kube.containers import ContainerIdError
from podtap.net.procfs import ContainerNotFound, container_pid

APP = "9c2b7f1e0a4d3c5b6e8f0a1b2c3d4e5f6a7b8c9d0e1f2a3b4c5d6e7f8a9b0c1d"
PAUSE = "0ba8ac17e4e7a31fb82279503552fe94e64bab4745bf6fd2ff231e7c8ca8bed0"
POD = "kubepods.slice/kubepods-burstable.slice/kubepods-burstable-pod3f9a1c22_7b04.slice"


@pytest.fixture
def sleeper() -> Iterator[subprocess.Popen[bytes]]:
    proc = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
    try:
        yield proc
    finally:
        proc.kill()
        proc.wait()


def test_the_embedded_clusters_id_is_the_pid(sleeper: subprocess.Popen[bytes]) -> None:
    assert container_pid(f"podtap://{sleeper.pid}") == sleeper.pid


def test_an_embedded_container_whose_process_exited_is_not_found(
    sleeper: subprocess.Popen[bytes],
) -> None:
    sleeper.kill()
    sleeper.wait()
    with pytest.raises(ContainerNotFound, match=f"podtap://{sleeper.pid}: process .* is gone"):
        container_pid(f"podtap://{sleeper.pid}")


class FakeProc:
    """A /proc with the files container_pid reads: PID/cgroup and PID/stat."""

    def __init__(self, root: Path) -> None:
        self.root = root
        (root / "self").mkdir()  # non-numeric entries are not processes
        (root / "net").mkdir()

    def add(self, pid: int, *, ppid: int, start: int, cgroup: str, comm: str = "app") -> None:
        d = self.root / str(pid)
        d.mkdir()
        (d / "cgroup").write_text(cgroup)
        after = " ".join(["0"] * 17 + [str(start)] + ["0"] * 30)  # fields 5..21, 22 = starttime
        (d / "stat").write_text(f"{pid} ({comm}) S {ppid} {after}\n")


def node(root: Path, *, scope: str) -> FakeProc:
    """A node running one pod: pause and app containers, their shim, a monitor, an exec."""
    proc = FakeProc(root)
    proc.add(1, ppid=0, start=1, cgroup="0::/init.scope\n", comm="systemd")
    proc.add(40, ppid=1, start=10, cgroup="0::/system.slice/containerd.service\n", comm="shim")
    mon = f"crio-conmon-{APP}.scope"  # CRI-O's monitor, in the pod's slice (conmon_cgroup=pod)
    proc.add(45, ppid=1, start=11, cgroup=f"0::/{POD}/{mon}\n", comm="conmon")
    pause = scope.format(id=PAUSE)
    proc.add(50, ppid=40, start=12, cgroup=f"0::/{POD}/{pause}\n", comm="pause")
    app = scope.format(id=APP)
    proc.add(100, ppid=40, start=20, cgroup=f"0::/{POD}/{app}\n", comm="my app")
    proc.add(101, ppid=100, start=21, cgroup=f"0::/{POD}/{app}\n", comm="worker")
    proc.add(90, ppid=40, start=500, cgroup=f"0::/{POD}/{app}\n", comm="sh")  # kubectl exec
    return proc


@pytest.mark.parametrize(
    ("container_id", "scope"),
    [
        (f"containerd://{APP}", "cri-containerd-{id}.scope"),
        (f"cri-o://{APP}", "crio-{id}.scope"),
        (f"docker://{APP}", "docker-{id}.scope"),
        (f"containerd://{APP}", "{id}"),
    ],
)
def test_the_main_process_of_each_runtimes_container_is_found(
    tmp_path: Path, container_id: str, scope: str
) -> None:
    node(tmp_path, scope=scope)
    assert container_pid(container_id, proc=tmp_path) == 100


def test_cri_os_monitor_with_a_lower_pid_is_not_picked(tmp_path: Path) -> None:
    node(tmp_path, scope="crio-{id}.scope")
    assert container_pid(f"cri-o://{APP}", proc=tmp_path) == 100  # not conmon (45)
    assert container_pid(f"cri-o://{PAUSE}", proc=tmp_path) == 50


def test_a_process_gone_between_reads_is_skipped(tmp_path: Path) -> None:
    node(tmp_path, scope="cri-containerd-{id}.scope")
    (tmp_path / "100" / "stat").unlink()  # exited after its cgroup was read
    # its worker is now the first process of the container whose parent is not in it
    assert container_pid(f"containerd://{APP}", proc=tmp_path) == 101


def test_a_container_not_on_this_node_is_refused_with_what_to_do(tmp_path: Path) -> None:
    node(tmp_path, scope="cri-containerd-{id}.scope")
    other = "f" * 64
    with pytest.raises(ContainerNotFound) as info:
        container_pid(f"containerd://{other}", proc=tmp_path)
    assert str(info.value) == (
        f"no process in {tmp_path} belongs to containerd container ffffffffffff: run the agent "
        "on the pod's node with hostPID: true (or check the container is still running)"
    )


def test_an_unreadable_container_id_is_refused(tmp_path: Path) -> None:
    with pytest.raises(ContainerIdError, match="unsupported runtime"):
        container_pid(f"rkt://{APP}", proc=tmp_path)
