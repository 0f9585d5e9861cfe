"""The image: scripts/build-image makes a base with debootstrap, builds the Dockerfile FROM it
with Debian's buildah (vfs storage, chroot isolation) and the image runs `podtap --version`
and holds the agent's tools. Opt-in: it needs root, the Debian mirror and PyPI, and minutes."""

from __future__ import annotations

import os
import shutil
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

import podtap

REPO = Path(__file__).resolve().parents[2]
TAG = "localhost/podtap-image-test:latest"

pytestmark = pytest.mark.skipif(
    os.environ.get("PODTAP_IMAGE_TESTS") != "1",
    reason="image build (minutes, root, Debian mirror and PyPI): run with "
    "PODTAP_IMAGE_TESTS=1 pytest -q tests/image (needs: apt-get install -y buildah debootstrap)",
)


class Buildah:
    """buildah on a private storage dir, so the test removes exactly what it made."""

    def __init__(self, storage: Path) -> None:
        self.storage = storage
        self.flags = ["--storage-driver", "vfs", "--root", f"{storage}/root"]
        self.flags += ["--runroot", f"{storage}/run"]

    def __call__(self, *args: str, timeout: float = 120) -> str:
        done = subprocess.run(
            ["buildah", *self.flags, *args], capture_output=True, text=True, timeout=timeout
        )
        assert done.returncode == 0, f"buildah {' '.join(args)} failed: {done.stderr.strip()}"
        return done.stdout.strip()

    def cleanup(self) -> list[str]:
        """Remove every container and image in the storage; return what would not go."""
        left: list[str] = []
        for args in (["rm", "--all"], ["rmi", "--all", "--force"]):
            done = subprocess.run(["buildah", *self.flags, *args], capture_output=True, text=True)
            if done.returncode != 0 and "no such" not in done.stderr.lower():
                left.append(f"buildah {' '.join(args)}: {done.stderr.strip()}")
        for kind in ("containers", "images"):
            listed = subprocess.run(
                ["buildah", *self.flags, kind, "--quiet"], capture_output=True, text=True
            ).stdout.split()
            left += [f"{kind[:-1]} {x}" for x in listed]
        return left


@pytest.fixture
def buildah(tmp_path: Path) -> Iterator[Buildah]:
    if os.geteuid() != 0:
        pytest.fail("the image test builds with buildah as root: run it as root")
    missing = [t for t in ("buildah", "debootstrap") if shutil.which(t) is None]
    if missing:
        pytest.fail(
            f"{' and '.join(missing)} not installed: apt-get install -y buildah debootstrap"
        )
    tool = Buildah(tmp_path / "storage")
    try:
        yield tool
    finally:
        left = tool.cleanup()
        subprocess.run(["rm", "-rf", "--one-file-system", str(tool.storage)], check=False)
        assert not left, f"the test left buildah objects behind: {left}"


@pytest.mark.timeout(3600)
def test_image_builds_from_a_local_base_and_runs_podtap(buildah: Buildah) -> None:
    started = time.monotonic()
    build = subprocess.run(
        [str(REPO / "scripts/build-image"), "--tag", TAG, "--storage", str(buildah.storage)],
        capture_output=True,
        text=True,
        timeout=3000,
    )
    assert build.returncode == 0, f"scripts/build-image failed:\n{build.stderr[-3000:]}"
    built = time.monotonic() - started
    images = buildah("images", "--format", "{{.Name}}:{{.Tag}} {{.Size}}")
    assert TAG in images, images
    assert "localhost/podtap-base:bookworm" in images, images

    config = buildah("inspect", "--type", "image", "--format", "{{.OCIv1.Config.Entrypoint}}", TAG)
    assert config == "[podtap]"
    user = buildah("inspect", "--type", "image", "--format", "{{.OCIv1.Config.User}}", TAG)
    assert user in ("root", "", "0")

    ctr = buildah("from", TAG)
    # chroot isolation, as in the build: the OCI runtime needs cgroups this host may not give
    version = buildah("run", "--isolation", "chroot", ctr, "--", "podtap", "--version")
    assert version == f"podtap {podtap.__version__}"
    tools = buildah(
        "run", "--isolation", "chroot", ctr, "--", "sh", "-c", "nft --version; ip -V; nsenter -V"
    )
    assert "nftables" in tools and "iproute2" in tools and "util-linux" in tools, tools
    print(f"\nimage built in {built:.0f} s; {images}")
