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


#: The shop's unused TTL (podtap exec retries a lost connection as long as the operator says
#: it keeps the session): short, so lifecycle tests stay short, but longer than an operator
#: pod takes to come back on a loaded 2-core machine (7-9 s; the minimum, 6 s, was not).
SHOP_TTL = 10
#: The shop's operator: short-lived sessions and agents (tests wait for them to end), and
#: /metrics served (tests read it from a pod).
SHOP_OPERATOR = (f"sessions.unusedTtl={SHOP_TTL}", "agent.linger=5", "metrics.enabled=true")


@pytest.fixture(scope="session")
def shop() -> Iterator[LocalCluster]:
    """The example shop, shared by the read-only tests of a run."""
    require_root()
    cluster = LocalCluster("t-shop")
    before = HostSnapshot.take(str(cluster.state_home))
    try:
        cluster.up(EXAMPLES / "shop", operator_chart=True, values=SHOP_OPERATOR)
        yield cluster
    finally:
        problems = teardown(cluster, before)
        assert not problems, "\n".join(problems)


@pytest.fixture(scope="session")
def web(shop: LocalCluster, tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, int]]:
    """The test app (deployment/web) in the shop cluster: its pid and forwarded ports."""
    from tests.agent.web import WEB, port_forward

    manifest = tmp_path_factory.mktemp("web") / "web.yaml"
    manifest.write_text(WEB)
    shop.up(manifest)
    pid = int(shop.pods("web-")[0]["containers"][0]["pid"])  # type: ignore[index]
    with (
        port_forward(shop, "svc/web", 80) as http,
        port_forward(shop, "svc/web", 81) as echo,
        port_forward(shop, "svc/web", 82) as h2,
    ):
        yield {"pid": pid, "http": http, "echo": echo, "h2": h2}
