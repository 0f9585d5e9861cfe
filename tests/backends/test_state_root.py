"""The state root must be the user's own: another account that made it first (the default
/tmp/podtap-UID is predictable) could plant pid files that `podtap local down` would kill,
sockets that would take the user's traffic, and read stored Secrets (issue 9)."""

from __future__ import annotations

import os
import stat
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

from podtap.backends.local.paths import UnsafeStateDir, check_private
from podtap.testing.localcluster import podtap_argv

NOBODY = 65534


def _podtap(state: Path, *args: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "PODTAP_STATE_HOME": str(state), "PODTAP_LOCAL_NAME": "squat"}
    return subprocess.run(podtap_argv(*args), env=env, capture_output=True, text=True, timeout=60)


@pytest.fixture
def victim() -> Iterator[subprocess.Popen[bytes]]:
    """A process of ours, in a process group of its own, that nobody should stop."""
    proc = subprocess.Popen(["sleep", "600"], start_new_session=True)
    yield proc
    proc.kill()
    proc.wait()


def _plant(state: Path, pid: int, *, owner: int) -> None:
    cluster = state / "local" / "squat"
    cluster.mkdir(parents=True)
    for name in ("node.pid", "operator.pid"):
        (cluster / name).write_text(str(pid))
        os.chown(cluster / name, owner, owner)


def test_a_missing_state_root_is_made_private(tmp_path: Path) -> None:
    root = check_private(tmp_path / "state", create=True)
    assert stat.S_IMODE(root.stat().st_mode) == 0o700 and root.stat().st_uid == os.geteuid()


def test_a_state_root_others_may_write_is_refused(tmp_path: Path) -> None:
    (tmp_path / "state").mkdir(mode=0o777)
    (tmp_path / "state").chmod(0o777)
    with pytest.raises(UnsafeStateDir, match="can be written by others"):
        check_private(tmp_path / "state")
    (tmp_path / "link").symlink_to(tmp_path / "elsewhere")
    with pytest.raises(UnsafeStateDir, match="is a symbolic link"):
        check_private(tmp_path / "link", create=True)


def test_a_squatted_state_root_is_refused_and_its_pid_files_kill_nothing(
    tmp_path: Path, victim: subprocess.Popen[bytes]
) -> None:
    if os.geteuid() != 0:
        pytest.skip("making a directory of another account needs root")
    state = tmp_path / "podtap-0"
    state.mkdir()
    state.chmod(0o777)
    os.chown(state, NOBODY, NOBODY)
    _plant(state, victim.pid, owner=NOBODY)
    for command in (("local", "down"), ("local", "up"), ("local", "status")):
        result = _podtap(state, *command)
        assert result.returncode == 1, result
        (line,) = result.stderr.strip().splitlines()
        assert f"state directory {state} belongs to uid {NOBODY}" in line
        assert "PODTAP_STATE_HOME" in line and "Traceback" not in result.stderr
    assert victim.poll() is None
    assert sorted(p.name for p in (state / "local" / "squat").iterdir()) == [
        "node.pid",
        "operator.pid",
    ]


def test_pid_files_another_account_wrote_kill_nothing(
    tmp_path: Path, victim: subprocess.Popen[bytes]
) -> None:
    if os.geteuid() != 0:
        pytest.skip("writing a file as another account needs root")
    state = tmp_path / "state"
    state.mkdir(mode=0o700)
    _plant(state, victim.pid, owner=NOBODY)
    result = _podtap(state, "local", "down")
    assert result.returncode == 0 and "was not running" in result.stdout, result
    assert victim.poll() is None
