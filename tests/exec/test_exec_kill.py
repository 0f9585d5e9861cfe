"""`podtap exec` killed by SIGKILL takes its jail, the user's command (and what that command
started) and its temporary directory with it (issue 9)."""

from __future__ import annotations

import os
import secrets
import shutil
import signal
import subprocess
import sys
from pathlib import Path

from podtap.testing.localcluster import LocalCluster, podtap_argv
from podtap.testing.wait import wait_until

# The command starts a child of its own and waits: both must go, not only the jail's child.
APP = (
    "import subprocess, sys, time; "
    "subprocess.Popen([sys.executable, '-c', 'import time; time.sleep(3600)', sys.argv[1]]); "
    "time.sleep(3600)"
)


def _with(marker: str) -> dict[int, str]:
    """Every process whose command line holds `marker`, by pid."""
    found = {}
    for pid in filter(str.isdigit, os.listdir("/proc")):
        try:
            cmd = Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0")
        except OSError:
            continue
        if marker.encode() in cmd:
            found[int(pid)] = " ".join(c.decode(errors="replace") for c in cmd)
    return found


def _temp_dir(jail_cmdline: str) -> Path:
    words = jail_cmdline.split()
    return Path(words[words.index("--deliver") + 1]).parent


def test_kill_9_of_exec_takes_the_jail_the_command_and_the_temp_dir(shop: LocalCluster) -> None:
    marker = f"podtap-kill-{secrets.token_hex(4)}"
    argv = podtap_argv("exec", "-t", "deployment/shop", "--", sys.executable, "-c", APP, marker)
    client = subprocess.Popen(
        argv, env=shop.env, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=None
    )
    temp: Path | None = None
    try:
        # the jail, the command and the command's own child
        running = wait_until(
            lambda: (found := _with(marker)) and len(found) >= 3 and found,
            timeout=60,
            what="the jail, the command and its child",
        )
        (jail,) = [cmd for cmd in running.values() if "podtap.client.jail" in cmd]
        temp = _temp_dir(jail)
        assert temp.name.startswith("podtap-exec-") and temp.is_dir()

        client.kill()
        client.wait(timeout=10)

        wait_until(lambda: not _with(marker), timeout=20, what="jail and command to end")
        wait_until(lambda: not temp.exists(), timeout=20, what=f"{temp} to be removed")
    finally:
        if client.poll() is None:
            client.kill()
            client.wait()
        for pid in _with(marker):
            os.kill(pid, signal.SIGKILL)
        if temp is not None:
            shutil.rmtree(temp, ignore_errors=True)


def test_what_the_command_leaves_running_ends_with_it(shop: LocalCluster) -> None:
    marker = f"podtap-bg-{secrets.token_hex(4)}"
    background = f"import time; time.sleep(3600)  # {marker}"
    try:
        result = shop.podtap(
            "exec", "-t", "deployment/shop", "--", "sh", "-c",
            f"{sys.executable} -c '{background}' & echo started",
            check=False,
            timeout=60,
        )  # fmt: skip
        assert (result.returncode, result.stdout.strip()) == (0, "started"), result.stderr
        wait_until(lambda: not _with(background), timeout=10, what="the background process to end")
    finally:
        for pid in _with(background):
            os.kill(pid, signal.SIGKILL)


def test_the_next_exec_sweeps_directories_whose_owner_is_gone(tmp_path: Path) -> None:
    from podtap.client.host.exec_dir import sweep_stale
    from podtap.net.process import start_time

    dead = subprocess.Popen(["true"])
    dead.wait()
    stale, live, unmarked = (tmp_path / f"podtap-exec-{n}" for n in ("a", "b", "c"))
    for directory in (stale, live, unmarked):
        (directory / "scratch").mkdir(parents=True)
    (stale / "owner").write_text(f"{dead.pid} 1")
    (live / "owner").write_text(f"{os.getpid()} {start_time(os.getpid())}")
    assert sweep_stale(tmp_path) == [stale]
    assert not stale.exists() and live.exists() and unmarked.exists()
