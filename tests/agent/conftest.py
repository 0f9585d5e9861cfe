"""An agent attached to the example shop's frontend pod, and a way in from the host."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from podtap.testing.agentproc import AgentProcess
from podtap.testing.localcluster import LocalCluster
from podtap.testing.netns import sh
from podtap.testing.wait import wait_until


def pod_of(cluster: LocalCluster, prefix: str) -> dict[str, object]:
    (pod,) = cluster.pods(prefix)[:1]
    return pod


def agent_tables(pid: int) -> str:
    return sh("nsenter", f"--net=/proc/{pid}/ns/net", "nft", "list", "tables").stdout


def assert_no_agent_table(pid: int) -> None:
    """The holder child dies right after the agent (PDEATHSIG); its table goes with it."""
    wait_until(
        lambda: "podtap_agent" not in agent_tables(pid),
        timeout=1.0,
        what="the agent's nftables table to disappear",
    )


@pytest.fixture
def frontend_pid(shop: LocalCluster) -> int:
    pod = pod_of(shop, "shop-")
    return int(pod["containers"][0]["pid"])  # type: ignore[index]


def no_agent_pod(pid: int) -> None:
    """An agent pod of the shop's operator (a session of an earlier test, lingering) holds
    its own table in the pod: these tests start their agent once it has gone."""
    wait_until(
        lambda: "podtap_agent" not in agent_tables(pid),
        timeout=30,
        what="the agent pod of an earlier session to go",
        interval=0.2,
    )


@pytest.fixture
def agent(frontend_pid: int, tmp_path: Path) -> Iterator[AgentProcess]:
    no_agent_pod(frontend_pid)
    proc = AgentProcess(pid=frontend_pid, socket_path=tmp_path / "agent.sock")
    try:
        yield proc
    finally:
        proc.kill()
        assert_no_agent_table(frontend_pid)


@pytest.fixture(scope="session")
def shop_port(shop: LocalCluster) -> Iterator[int]:
    """127.0.0.1:PORT on this machine reaches svc/shop through the frontend pod's veth."""
    from tests.agent.web import port_forward

    with port_forward(shop, "svc/shop", 80) as port:
        yield port


@pytest.fixture
def web_agent(web: dict[str, int], tmp_path: Path) -> Iterator[AgentProcess]:
    no_agent_pod(web["pid"])
    proc = AgentProcess(pid=web["pid"], socket_path=tmp_path / "web-agent.sock")
    try:
        yield proc
    finally:
        proc.kill()
        assert_no_agent_table(web["pid"])
