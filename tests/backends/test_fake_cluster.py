"""What only the in-memory cluster has (test_backend_contract.py holds what it shares with
the embedded one): the knobs tests turn, its fake pids, and its agent's session answers."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

from podtap.backends.base import TargetNotReady, TargetRef
from podtap.core.ids import Port, RequestId, SessionId, StreamId
from podtap.core.protocol import (
    Connect,
    ConnectResult,
    FileOpen,
    FileOpenResult,
    GetAddrInfoRequest,
    GetAddrInfoResponse,
    IpFamily,
    Payload,
    TransportProtocol,
)
from podtap.testing import fakeagent
from podtap.testing.fakebackend import FakeCluster
from podtap.testing.fakepods import FAKE_PID_BASE
from podtap.testing.fakesession import FakeSession, PodSide

EXAMPLES = Path(__file__).resolve().parents[2] / "examples"
SECRETLESS = """
apiVersion: v1
kind: Pod
metadata: {name: needs-secret}
spec:
  containers:
    - name: main
      command: [sleep, infinity]
      env:
        - name: KEY
          valueFrom: {secretKeyRef: {name: later, key: key}}
"""
LATER = {
    "apiVersion": "v1",
    "kind": "Secret",
    "metadata": {"name": "later", "namespace": "default"},
    "stringData": {"key": "now"},
}


def shop() -> FakeCluster:
    return FakeCluster.from_files(EXAMPLES / "shop")


def test_readiness_and_stopped_containers_are_the_tests_to_set() -> None:
    async def test() -> None:
        cluster, ref = shop(), TargetRef.parse("deployment/shop")
        cluster.set_ready("shop", False)
        with pytest.raises(TargetNotReady, match="has no ready pod"):
            await cluster.resolve(ref, namespace="default")
        cluster.set_ready("shop", True)
        cluster.stop_container("shop", "frontend")
        with pytest.raises(
            TargetNotReady, match=r"container frontend of pod shop-\S+ is not running"
        ):
            await cluster.resolve(ref, namespace="default")

    asyncio.run(test())


def test_fake_pids_belong_to_no_process_and_a_gone_pods_env_cannot_be_read() -> None:
    async def test() -> None:
        cluster = shop()
        resolved = await cluster.resolve(TargetRef.parse("deployment/shop"), namespace="default")
        assert resolved.pid > FAKE_PID_BASE and not Path(f"/proc/{resolved.pid}").exists()
        assert await cluster.delete_resource("Deployment", namespace="default", name="shop")
        targets = await cluster.list_targets(namespace="default")
        assert not any(t.target.name.startswith("shop-") for t in targets)
        with pytest.raises(OSError, match="is gone"):
            await cluster.container_env(resolved)

    asyncio.run(test())


def test_a_pod_waits_for_its_secret_as_on_the_node() -> None:
    async def test() -> None:
        cluster = FakeCluster.from_yaml(SECRETLESS)
        pod = cluster.pod("needs-secret")
        assert pod.phase == "Pending" and not pod.ready and "later not found" in pod.message
        assert await cluster.put_resource(LATER) == "created"
        assert pod.phase == "Running" and pod.ready
        resolved = await cluster.resolve(TargetRef.parse("pod/needs-secret"), namespace="default")
        assert (await cluster.container_env(resolved))["KEY"] == "now"

    asyncio.run(test())


def test_names_are_looked_up_as_a_pod_of_the_namespace_would() -> None:
    node = shop().node
    (vip,) = node.names("default", "catalog")
    assert node.names("default", "catalog.default.svc.cluster.local.") == [vip]
    assert node.names("default", "catalog.default") == [vip]
    assert node.names("other", "catalog") == [] and node.names("default", "nope") == []


def test_the_fake_agent_listens_where_the_real_one_does() -> None:
    from podtap.agent.server import CONNECT_PATH

    assert fakeagent.CONNECT_PATH == CONNECT_PATH


def test_the_fake_agent_answers_lookups_and_refuses_connections_and_files() -> None:
    async def test() -> None:
        sent: list[Payload] = []

        async def send(payload: Payload) -> None:
            sent.append(payload)

        node = shop().node
        pod = PodSide(env=dict, names=lambda host: node.names("default", host))
        session = FakeSession(SessionId(1), send=send, pod=pod)
        await session.handle(GetAddrInfoRequest(request=RequestId(1), host="shop"))
        await session.handle(GetAddrInfoRequest(request=RequestId(2), host="nope"))
        await session.handle(
            Connect(stream=StreamId(1), protocol=TransportProtocol.TCP, host="shop", port=Port(80))
        )
        await session.handle(FileOpen(request=RequestId(3), path="/etc/hostname", flags=0))
        found, missing, connect, opened = sent
        assert isinstance(found, GetAddrInfoResponse) and found.addresses[0][0] == IpFamily.IPV4
        assert isinstance(missing, GetAddrInfoResponse) and missing.error == "nope: name not known"
        assert isinstance(connect, ConnectResult) and not connect.ok
        assert connect.error == "the fake agent serves no outgoing connections"
        assert isinstance(opened, FileOpenResult) and opened.error is not None

    asyncio.run(test())
