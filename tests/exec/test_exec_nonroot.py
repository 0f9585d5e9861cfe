"""`podtap exec` run by a user who is not root (uid 65534): the same local app reaches a
service by its short name, a UDP echo service, sees the pod's env and reads its ConfigMap.

The test runs as root (it needs the cluster), so it gives the non-root user what a developer
has: this checkout and its virtual environment (bind-mounted on a reachable path in a private
mount namespace: a clone under /root is not reachable by others), a home, and the operator's
socket (the cluster's state directory is root's own, so the socket is bind-mounted too; the
operator tells users apart by SO_PEERCRED). Nothing of that is visible outside the test."""

from __future__ import annotations

import json
import os
import shutil
import stat
import subprocess
import sys
import sysconfig
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest

import podtap
from podtap.testing.localcluster import LocalCluster, processes_of
from tests.kube_users import limited_user

NOBODY = 65534
REPO = Path(podtap.__file__).resolve().parents[1]

APP = """
import json, os, socket, urllib.request
udp = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
udp.settimeout(10)
udp.sendto(b"ping", ("web", 81))
echo, peer = udp.recvfrom(100)
print(json.dumps({
    "uid": os.getuid(),
    "catalog": json.load(urllib.request.urlopen("http://catalog/items", timeout=10)),
    "udp": [echo.decode(), peer[1]],
    "key": os.environ.get("SHOP_API_KEY"),
    "greeting": open("/etc/shop/config/greeting").read(),
}))
"""


def _reachable_by_others(path: str) -> bool:
    """Whether a user who is neither owner nor in the group can execute `path` (every
    directory on the way traversable, the file executable)."""
    real = Path(os.path.realpath(path))
    if not os.stat(real).st_mode & stat.S_IXOTH:
        return False
    return all(os.stat(p).st_mode & stat.S_IXOTH for p in real.parents)


def _interpreter(root: Path) -> tuple[str, list[str]]:
    """The Python the non-root user runs podtap with, and what goes on its PYTHONPATH (paths
    as seen through the mounts under `root`): this venv's own interpreter when it is
    world-executable (scripts/setup builds it from /usr/bin/python3), else the system
    Python of the same version with this venv's packages."""
    prefix = Path(sys.prefix)
    mounted_venv = root / "venv"
    if _reachable_by_others(sys.executable) and prefix != Path(sys.base_prefix):
        return str(mounted_venv / "bin" / Path(sys.executable).name), [str(root / "repo")]
    system = shutil.which("python3", path="/usr/bin:/bin")
    wanted = f"{sys.version_info.major}.{sys.version_info.minor}"
    if system is None or not _reachable_by_others(system):
        pytest.skip(
            f"the venv's interpreter {os.path.realpath(sys.executable)} is not executable by "
            f"other users and there is no system python3 {wanted}: run scripts/setup"
        )
    version = subprocess.run(
        [system, "-c", "import sys; print(f'{sys.version_info[0]}.{sys.version_info[1]}')"],
        capture_output=True,
        text=True,
    ).stdout.strip()
    if version != wanted:
        pytest.skip(
            f"the venv's interpreter {os.path.realpath(sys.executable)} is not executable by "
            f"other users and {system} is Python {version}, not {wanted}: run scripts/setup"
        )
    site = {Path(sysconfig.get_path(k)) for k in ("purelib", "platlib")}
    packages = [str(mounted_venv / p.relative_to(prefix)) for p in sorted(site)]
    return system, [str(root / "repo"), *packages]


@pytest.fixture
def scratch() -> Iterator[Path]:
    """A directory the non-root user can reach (pytest's tmp_path is root's own)."""
    root = Path(tempfile.mkdtemp(prefix="pt-nonroot-", dir="/tmp"))
    try:
        root.chmod(0o755)
        yield root
    finally:
        shutil.rmtree(root, ignore_errors=True)


def test_a_non_root_user_runs_the_app_in_the_pods_context(
    shop: LocalCluster, web: dict[str, int], scratch: Path
) -> None:
    if shutil.which("setpriv") is None:
        pytest.skip("needs setpriv (util-linux)")
    python, pythonpath = _interpreter(scratch)
    for mount_point in ("repo", "venv"):
        (scratch / mount_point).mkdir()
    home = scratch / "home"
    home.mkdir()
    os.chown(home, NOBODY, NOBODY)
    app = scratch / "app.py"
    app.write_text(APP)
    kubeconfig = limited_user(shop, "nobody-dev", out=scratch / "dev.kubeconfig")
    mounts = 'mount --bind "$1" "$3/repo" && mount --bind "$2" "$3/venv" && shift 3 && exec "$@"'
    argv = [
        *("unshare", "--mount", "--propagation", "private", "--", "sh", "-c", mounts, "sh"),
        *(str(REPO), sys.prefix, str(scratch)),
        *("setpriv", f"--reuid={NOBODY}", f"--regid={NOBODY}", "--clear-groups", "--"),
        *(python, "-m", "podtap", "exec", "-t", "deployment/shop"),
        *("--kubeconfig", str(kubeconfig), "--", python, str(app)),
    ]
    env = {
        "PATH": "/usr/local/bin:/usr/bin:/bin:/usr/sbin:/sbin",
        "HOME": str(home),
        "LANG": "C.UTF-8",
        "PYTHONPATH": os.pathsep.join(pythonpath),
        "PYTHONDONTWRITEBYTECODE": "1",
        # not reachable by this user: only here so leftover checks can find its processes
        "PODTAP_STATE_HOME": str(shop.state_home),
    }
    try:
        result = subprocess.run(argv, env=env, cwd=home, capture_output=True, text=True, timeout=90)
    finally:
        leftovers = processes_of(shop, "podtap.client.jail")
    assert result.returncode == 0, result.stderr
    seen = json.loads(result.stdout)
    assert seen["uid"] == NOBODY
    assert seen["catalog"]["items"][0]["sku"] == "mug"
    assert seen["udp"] == ["ping", 81]
    assert seen["key"] == "s3cr3t-key-42"
    assert seen["greeting"] == "Welcome to the podtap shop"
    assert leftovers == []
