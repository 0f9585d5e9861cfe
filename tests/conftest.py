"""Fixtures that start real embedded clusters (root, namespaces, nftables) and check that
they leave nothing behind on the host, even when a test fails."""

from __future__ import annotations

import contextlib
import os
import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest

from podtap.testing.localcluster import HostSnapshot, LocalCluster

EXAMPLES = Path(__file__).resolve().parents[1] / "examples"


def require_root() -> None:
    if os.geteuid() != 0 or shutil.which("nft") is None:
        pytest.skip("needs root and nftables (run scripts/test)")


def _pids_alive(pids: list[int]) -> list[int]:
    return [p for p in pids if Path(f"/proc/{p}").exists()]


@pytest.fixture
def make_cluster() -> Iterator[type[LocalCluster]]:
    """Factory for clusters that are always torn down and checked for leftovers."""
    require_root()
    made: list[tuple[LocalCluster, HostSnapshot]] = []

    class Tracked(LocalCluster):
        def __init__(self, name: str) -> None:
            super().__init__(name)
            made.append((self, HostSnapshot.take(str(self.state_home))))

    yield Tracked
    problems: list[str] = []
    for cluster, before in made:
        problems += teardown(cluster, before)
    assert not problems, "\n".join(problems)


def teardown(cluster: LocalCluster, before: HostSnapshot) -> list[str]:
    pids: list[int] = []
    with contextlib.suppress(AssertionError):  # not running: nothing to collect
        pids = [c["pid"] for p in cluster.get("pods") for c in p["containers"] if c["pid"]]
    cluster.down()
    after = HostSnapshot.take(str(cluster.state_home))
    problems = after.leftovers_since(before)
    problems += [f"container process {p} still alive" for p in _pids_alive(pids)]
    if (cluster.state_home / "local" / cluster.name).exists():
        problems.append("state directory left behind")
    shutil.rmtree(cluster.state_home, ignore_errors=True)
    return problems


@pytest.fixture(scope="session")
def shop() -> Iterator[LocalCluster]:
    """The example shop, shared by the read-only tests of a run."""
    require_root()
    cluster = LocalCluster("t-shop")
    before = HostSnapshot.take(str(cluster.state_home))
    try:
        cluster.up(EXAMPLES / "shop")
        yield cluster
    finally:
        problems = teardown(cluster, before)
        assert not problems, "\n".join(problems)
