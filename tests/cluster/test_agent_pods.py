"""Agent pods on `podtap local up`, through the Kubernetes API only: the operator's
AgentManager over KubernetesBackend (from the cluster's kubeconfig; port-forward, as an
operator outside the cluster reaches them) starts an agent pod on the target's node, a
session through it sees the container's environment and mirrors and steals its traffic,
the pod goes after the last session and the linger, and a killed agent pod ends its
sessions and leaves no rule in the target."""

from __future__ import annotations

import asyncio
import json
import re
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest

from podtap.backends.base import (
    AgentEndpoint,
    AgentRoute,
    AgentStartFailed,
    ResolvedTarget,
    TargetRef,
    direct_route,
)
from podtap.backends.kubernetes import KubernetesBackend
from podtap.backends.kubernetes.agent_pod import AGENT_SELECTOR, AgentPodSettings
from podtap.backends.kubernetes.config import kubeconfig_client
from podtap.core.ids import Port, RequestId, SessionId, new_session_id
from podtap.core.protocol import (
    Data,
    EnvRequest,
    EnvResponse,
    IncomingMode,
    StreamClose,
    Subscribe,
    SubscribeResult,
    Unsubscribe,
)
from podtap.operator.agents import AgentLink, AgentManager
from podtap.testing.agentproc import SessionPeer
from podtap.testing.fakebackend import FakeCluster
from podtap.testing.localcluster import LocalCluster
from podtap.testing.wait import async_wait_until
from tests.agent.conftest import agent_tables
from tests.agent.test_agent_traffic import get
from tests.agent.web import port_forward
from tests.cluster.test_kubectl_local import Kubectl

SHOP = Path(__file__).parents[2] / "examples" / "shop"
STOLEN = b"HTTP/1.1 200 OK\r\nContent-Length: 6\r\nConnection: close\r\n\r\nstolen"
LINGER = 2.0


def shop_cluster(cluster: LocalCluster, home: Path) -> tuple[LocalCluster, Path, Kubectl]:
    """`cluster` up with examples/shop, its admin kubeconfig and kubectl on it."""
    cluster.up(SHOP)
    config = Path(cluster.podtap("local", "kubeconfig").stdout.strip())
    return cluster, config, Kubectl(config, home)


def agent_pods(kubectl: Kubectl) -> list[dict[str, Any]]:
    found: list[dict[str, Any]] = kubectl.json("pods", "-l", AGENT_SELECTOR)["items"]
    return found


async def subscribe(peer: SessionPeer, mode: IncomingMode) -> None:
    await peer.send(Subscribe(request=RequestId(1), port=Port(8080), mode=mode))
    result = await peer.expect(SubscribeResult, timeout=20)
    assert result.ok, result.error


async def open_session(
    manager: AgentManager, resolved: ResolvedTarget
) -> tuple[AgentLink, SessionPeer, SessionId]:
    """A session on the target's agent, as the operator's relay opens one."""
    sid = new_session_id()
    links: list[AgentLink] = []

    async def send(payload: Any) -> None:
        await links[0].send(sid, payload)

    peer = SessionPeer(send)
    links.append(await manager.acquire(resolved, sid, peer.receive))
    return links[0], peer, sid


class Scenario:
    def __init__(
        self, kubectl: Kubectl, *, config: Path, limited: Path, run: Path, shop_port: int
    ) -> None:
        self.kubectl, self.config, self.run_dir, self.port = kubectl, config, run, shop_port
        self.limited = limited
        self.lost: list[AgentLink] = []

    async def curl(self, path: str = "/whoami") -> str:
        """GET svc/shop through the node's port-forward: in by the pod's veth, as a peer's."""
        return (await asyncio.to_thread(get, self.port, path)).decode()

    async def main(self) -> None:
        api = await kubeconfig_client(path=self.config, context=None)
        settings = AgentPodSettings(linger=LINGER, image="podtap:test")
        backend = KubernetesBackend(api, agents=settings, agent_connect="port-forward")

        async def on_lost(link: AgentLink) -> None:
            self.lost.append(link)

        manager = AgentManager(backend, run_dir=self.run_dir, grace=LINGER, on_lost=on_lost)
        try:
            await self.one_session(backend, manager)
            await self.killed_agent(backend, manager)
            await self.failures(backend, self.limited)
            await self.leftovers(backend)
        finally:
            await manager.close()
            await backend.aclose()

    async def one_session(self, backend: KubernetesBackend, manager: AgentManager) -> None:
        resolved = await backend.resolve(TargetRef("deployment", "shop"), namespace="default")
        link, peer, sid = await open_session(manager, resolved)
        (pod,) = await asyncio.to_thread(agent_pods, self.kubectl)
        assert pod["spec"]["nodeName"] == resolved.pod.node == "podtap-local"
        assert pod["spec"]["hostPID"] is True and pod["status"]["phase"] == "Running"
        assert pod["metadata"]["labels"]["podtap.dev/target-pod"] == resolved.pod.name
        assert link.endpoint.token not in json.dumps(pod)  # only its SHA-256 is there
        assert link.endpoint.handle == f"default/{pod['metadata']['name']}"

        await peer.send(EnvRequest(request=RequestId(7)))
        env = (await peer.expect(EnvResponse, timeout=20)).env
        assert env["SHOP_API_KEY"] and env["HOSTNAME"] == resolved.pod.name

        await subscribe(peer, IncomingMode.MIRROR)
        answered = await self.curl("/whoami")
        assert f'"pod": "{resolved.pod.name}"' in answered
        _, copy = await peer.first_request(IncomingMode.MIRROR, timeout=20)
        assert copy.startswith(b"GET /whoami ")
        await peer.send(Unsubscribe(port=Port(8080)))

        await subscribe(peer, IncomingMode.STEAL)
        stolen = asyncio.ensure_future(self.curl("/mine"))
        conn, request = await peer.first_request(IncomingMode.STEAL, timeout=20)
        assert request.startswith(b"GET /mine ")
        await peer.send(Data(stream=conn.stream, data=STOLEN))
        await peer.send(StreamClose(stream=conn.stream))
        assert await stolen == "stolen"
        await peer.send(Unsubscribe(port=Port(8080)))

        manager.release(link, sid)  # the last session: the pod goes after the linger
        await async_wait_until(
            lambda: not agent_pods(self.kubectl),
            timeout=LINGER + 30,
            what="the agent pod to go",
            interval=0.5,
        )
        assert not self.lost
        target_pid = int(str(resolved.container.container_id).removeprefix("podtap://"))
        assert "podtap_agent" not in agent_tables(target_pid)  # SIGTERM: its rules undone

    async def failures(self, backend: KubernetesBackend, limited: Path) -> None:
        resolved = await backend.resolve(TargetRef("deployment", "shop"), namespace="default")
        gone = replace(resolved.container, container_id="containerd://" + "0" * 64)
        with pytest.raises(AgentStartFailed) as failed:
            await backend.start_agent(replace(resolved, container=gone), token="t", socket_path="")
        message = str(failed.value)
        assert re.match(r"agent pod default/podtap-agent-\w+ did not start: the agent ex", message)
        assert "no process in /proc belongs to containerd container 000000000000" in message
        assert not agent_pods(self.kubectl)  # deleted on failure

        api = await kubeconfig_client(path=limited, context=None)
        async with KubernetesBackend(api, agents=AgentPodSettings()) as nobody:
            with pytest.raises(AgentStartFailed) as refused:
                await nobody.start_agent(resolved, token="t", socket_path="")
        assert str(refused.value).startswith(f"cannot read pod {resolved.pod.name} to start its")
        assert 'User "nobody" cannot get resource "pods"' in str(refused.value)

    async def leftovers(self, backend: KubernetesBackend) -> None:
        resolved = await backend.resolve(TargetRef("deployment", "shop"), namespace="default")
        await backend.start_agent(resolved, token="t", socket_path="")  # then the operator dies
        api = await kubeconfig_client(path=self.config, context=None)
        async with KubernetesBackend(api, agents=AgentPodSettings()) as restarted:
            assert await restarted.delete_leftover_agents() == 1
        await async_wait_until(
            lambda: not agent_pods(self.kubectl), timeout=30, what="the leftover gone", interval=1
        )

    async def killed_agent(self, backend: KubernetesBackend, manager: AgentManager) -> None:
        resolved = await backend.resolve(TargetRef("deployment", "shop"), namespace="default")
        target_pid = int(str(resolved.container.container_id).removeprefix("podtap://"))
        link, peer, sid = await open_session(manager, resolved)
        await subscribe(peer, IncomingMode.STEAL)
        assert "podtap_agent" in agent_tables(target_pid)
        name = link.endpoint.handle.split("/")[1]
        self.kubectl("delete", "pod", name, "--force", "--grace-period=0")
        await async_wait_until(lambda: self.lost, timeout=30, what="the agent link to be lost")
        assert self.lost == [link] and sid in link.sessions  # the service ends it: AgentFailed
        await async_wait_until(
            lambda: "podtap_agent" not in agent_tables(target_pid),
            timeout=10,
            what="the agent's nftables table to go",
        )
        assert "stolen" not in await self.curl()


def test_agent_pods_through_the_kubernetes_api(
    make_cluster: type[LocalCluster], tmp_path: Path
) -> None:
    cluster, config, kubectl = shop_cluster(make_cluster("t-agentpods"), tmp_path)
    limited = tmp_path / "nobody.kubeconfig"
    cluster.podtap("local", "kubeconfig", "--user", "nobody", "--out", str(limited))
    with port_forward(cluster, "svc/shop", 80) as port:
        scenario = Scenario(
            kubectl, config=config, limited=limited, run=tmp_path / "run", shop_port=port
        )
        asyncio.run(scenario.main())
    assert not agent_pods(kubectl)


async def ephemeral(kubectl: Kubectl, *, config: Path, run: Path, shop_port: int) -> None:
    api = await kubeconfig_client(path=config, context=None)
    settings = AgentPodSettings(linger=LINGER, image="podtap:test", ephemeral=True)
    lost: list[AgentLink] = []

    async def on_lost(link: AgentLink) -> None:
        lost.append(link)

    async with KubernetesBackend(api, agents=settings, agent_connect="port-forward") as backend:
        manager = AgentManager(backend, run_dir=run, grace=LINGER, on_lost=on_lost)
        try:
            resolved = await backend.resolve(TargetRef("deployment", "shop"), namespace="default")
            link, peer, sid = await open_session(manager, resolved)
            ns, pod, name = link.endpoint.handle.split("/")
            assert (ns, pod) == ("default", resolved.pod.name) and not agent_pods(kubectl)
            spec = kubectl.json("pod", pod)["spec"]
            (added,) = spec["ephemeralContainers"]
            assert added["name"] == name and added["targetContainerName"] == "frontend"
            await peer.send(EnvRequest(request=RequestId(7)))
            assert (await peer.expect(EnvResponse, timeout=20)).env["SHOP_API_KEY"]
            await subscribe(peer, IncomingMode.STEAL)
            stolen = asyncio.ensure_future(asyncio.to_thread(get, shop_port, "/mine"))
            conn, _ = await peer.first_request(IncomingMode.STEAL, timeout=20)
            await peer.send(Data(stream=conn.stream, data=STOLEN))
            await peer.send(StreamClose(stream=conn.stream))
            assert await stolen == b"stolen"
            manager.release(link, sid)
        finally:
            await manager.close()

    def exited() -> bool:
        statuses = kubectl.json("pod", pod)["status"].get("ephemeralContainerStatuses") or []
        return any("terminated" in (s.get("state") or {}) for s in statuses)

    await async_wait_until(exited, timeout=60, what="the ephemeral agent to exit", interval=1)
    target_pid = int(str(resolved.container.container_id).removeprefix("podtap://"))
    assert "podtap_agent" not in agent_tables(target_pid) and not lost


def test_an_ephemeral_agent_in_the_target_pod(
    make_cluster: type[LocalCluster], tmp_path: Path
) -> None:
    cluster, config, kubectl = shop_cluster(make_cluster("t-agenteph"), tmp_path)
    with port_forward(cluster, "svc/shop", 80) as port:
        asyncio.run(ephemeral(kubectl, config=config, run=tmp_path / "run", shop_port=port))


def test_an_agent_that_does_not_answer_fails_the_start_in_one_line(tmp_path: Path) -> None:
    """As when a network policy or a firewall keeps the operator from the agent's port."""

    class Unreachable(FakeCluster):
        async def agent_route(self, endpoint: AgentEndpoint) -> AgentRoute:
            return direct_route(replace(endpoint, url=f"unix:{tmp_path}/nobody.sock"))

    async def go() -> None:
        cluster = Unreachable.from_files(SHOP)

        async def on_lost(link: AgentLink) -> None:
            raise AssertionError("no link was made")

        manager = AgentManager(cluster, run_dir=tmp_path, on_lost=on_lost)
        try:
            resolved = await cluster.resolve(TargetRef("deployment", "shop"), namespace="default")
            with pytest.raises(AgentStartFailed) as failed:
                await manager.acquire(resolved, new_session_id(), lambda payload: None)
            assert str(failed.value).startswith("the agent for pod default/shop-")
            assert "started but did not answer at unix:" in str(failed.value)
            assert not cluster.agents  # stopped again
        finally:
            await manager.close()
            await cluster.close()

    asyncio.run(go())
