"""Policies enforced by the operator where it sees the request: the real operator, its real
client API and the real protocol over the in-memory cluster, fake agents in this process,
and the policies fed as the objects an admin would apply. The client is treated as a
rogue: every frame here is sent raw, and none gets past a policy."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

import aiohttp
import pytest

from podtap.backends.kubernetes.policy_book import PolicyBook, PolicySnapshot
from podtap.client.host.operator_api import OperatorAddress, OperatorApi, OperatorRefused
from podtap.core.ids import Port, RequestId
from podtap.core.operator_paths import API
from podtap.core.protocol import (
    EnvRequest,
    EnvResponse,
    GetAddrInfoRequest,
    GetAddrInfoResponse,
    HttpFilter,
    IncomingMode,
    Log,
    Subscribe,
    SubscribeResult,
    Unsubscribe,
)
from podtap.operator.server import listening
from podtap.operator.service import OperatorService, OperatorSettings
from podtap.testing.agentproc import SessionPeer
from podtap.testing.fakebackend import FakeCluster
from podtap.testing.opclient import operator_session
from podtap.testing.wait import async_wait_until
from tests.operator.inproc import OnePodCluster, audit_events

UNFILTERED = "policy default/no-unfiltered-steal blocks steal without an HTTP filter"


def policy(name: str, spec: Mapping[str, Any], *, namespace: str = "default") -> dict[str, Any]:
    return {
        "apiVersion": "policies.podtap.dev/v1alpha1",
        "kind": "PodtapPolicy",
        "metadata": {"name": name, "namespace": namespace, "resourceVersion": "1"},
        "spec": dict(spec),
    }


NO_UNFILTERED = policy(
    "no-unfiltered-steal", {"targetPath": "*", "block": ["steal-without-filter"]}
)


class FedPolicies:
    """A policy source fed by the test, as the live cache is fed by the watch."""

    def __init__(self, *objects: Mapping[str, Any]) -> None:
        self.book = PolicyBook()
        self._wake = asyncio.Event()
        for obj in objects:
            self.put(obj)

    def put(self, obj: Mapping[str, Any]) -> None:
        assert self.book.put(obj) is None
        self._wake.set()

    def delete(self, obj: Mapping[str, Any]) -> None:
        self.book.delete(obj)
        self._wake.set()

    def snapshot(self) -> PolicySnapshot:
        return self.book.snapshot()

    async def changed(self, *, since: int) -> PolicySnapshot:
        while self.book.version == since:
            self._wake.clear()
            await self._wake.wait()
        return self.snapshot()


@dataclass
class Running:
    service: OperatorService
    cluster: FakeCluster
    address: OperatorAddress
    policies: FedPolicies


def run(
    state: Path, test: Callable[[Running], Awaitable[None]], *objects: Any, grace: float = 0.5
) -> None:
    async def go() -> None:
        cluster, policies = OnePodCluster(agents=True), FedPolicies(*objects)
        sock = state / "operator.sock"
        settings = OperatorSettings(state_dir=state / "operator", handoff_grace=grace)
        async with listening(
            settings, cluster, listen=f"unix:{sock}", policies=policies
        ) as service:
            await test(Running(service, cluster, OperatorAddress(f"unix:{sock}"), policies))

    asyncio.run(go())


@asynccontextmanager
async def session(op: Running, target: str = "deployment/web") -> AsyncIterator[SessionPeer]:
    async with operator_session(op.address, target) as (_, peer):
        yield peer


async def subscribe(
    peer: SessionPeer,
    flt: HttpFilter | None = None,
    mode: IncomingMode = IncomingMode.STEAL,
    *,
    request: int = 1,
) -> SubscribeResult:
    await peer.send(
        Subscribe(request=RequestId(request), port=Port(8000), mode=mode, http_filter=flt)
    )
    return await peer.expect(SubscribeResult, timeout=2)


def refusals(op: Running) -> list[dict[str, Any]]:
    return [e for e in audit_events(op.service) if e["event"] == "refusal"]


def test_a_steal_without_filter_is_refused_naming_the_policy_and_a_filtered_one_works(
    tmp_path: Path,
) -> None:
    async def test(op: Running) -> None:
        async with session(op) as peer:
            refused = await subscribe(peer)
            assert not refused.ok and refused.error is not None
            assert refused.error.startswith(UNFILTERED) and "\n" not in refused.error
            assert op.cluster.agent("web").subscribed() == {}
            (event,) = refusals(op)
            assert event["port"] == 8000 and event["reason"] == refused.error
            assert (await subscribe(peer, mode=IncomingMode.MIRROR, request=2)).ok
            await peer.send(Unsubscribe(port=Port(8000)))
            assert (await subscribe(peer, HttpFilter(header="^x-user: a$"), request=3)).ok

    run(tmp_path, test, NO_UNFILTERED)


def test_a_rogue_client_cannot_steal_around_the_policies(tmp_path: Path) -> None:
    """Every shape of frame a client could send to widen a steal is refused: no filter, an
    empty filter, a filter on another header, an any_of with one item off the pattern."""
    header = policy(
        "x-user",
        {"network": {"incoming": {"httpFilter": {"headerFilter": "x-user: .+"}}}},
    )

    async def test(op: Running) -> None:
        async with session(op) as peer:
            tries = [
                None,
                HttpFilter(),
                HttpFilter(path="^/"),
                HttpFilter(header="^x-team: a$"),
                HttpFilter(any_of=(HttpFilter(header="x-user: a"), HttpFilter(header="x-b: c"))),
            ]
            for n, flt in enumerate(tries, start=1):
                answer = await subscribe(peer, flt, request=n)
                assert not answer.ok and answer.error and "policy default/" in answer.error
            assert op.cluster.agent("web").subscribed() == {}
            assert len(refusals(op)) == len(tries)
            allowed = HttpFilter(all_of=(HttpFilter(header="x-user: alice"), HttpFilter(path="/")))
            assert (await subscribe(peer, allowed, request=9)).ok

    run(tmp_path, test, header)


def test_a_policy_blocking_mirror_refuses_a_mirror(tmp_path: Path) -> None:
    async def test(op: Running) -> None:
        async with session(op) as peer:
            answer = await subscribe(peer, mode=IncomingMode.MIRROR)
            assert answer.error == "policy default/no-mirror blocks mirror on deployment/web"

    run(tmp_path, test, policy("no-mirror", {"block": ["mirror"]}))


def test_a_session_without_the_required_profile_is_refused_with_403(tmp_path: Path) -> None:
    async def test(op: Running) -> None:
        with pytest.raises(OperatorRefused) as refused:
            async with session(op):
                pass
        assert refused.value.status == 403
        assert str(refused.value) == (
            "policy default/need-profile requires a profile on deployment/web: "
            "set profile or --profile"
        )
        assert op.service.records == {} and refusals(op)[0]["reason"] == str(refused.value)

    run(tmp_path, test, policy("need-profile", {"requireProfile": True}))


async def plain_connect(op: Running, **query: str) -> tuple[int, str]:
    """A connect without the upgrade (the client asks so why one was refused): its status
    and error line."""
    path = f"{API}/proxy/namespaces/default/targets/deployment.web?{urlencode(query)}"
    sock = op.address.value.removeprefix("unix:")
    async with (
        aiohttp.ClientSession(connector=aiohttp.UnixConnector(path=sock)) as http,
        http.get(f"http://operator{path}") as answer,
    ):
        return answer.status, str(json.loads(await answer.text())["error"])


def test_a_profile_off_the_allowlist_is_refused(tmp_path: Path) -> None:
    async def test(op: Running) -> None:
        status, error = await plain_connect(op, profile="wild")
        assert status == 403
        assert error == (
            "policy default/allowed does not allow profile wild on deployment/web (allowed: tame)"
        )

    run(tmp_path, test, policy("allowed", {"profileAllowlist": ["tame"]}))


def test_configured_steals_without_filter_are_refused_at_connect(tmp_path: Path) -> None:
    async def test(op: Running) -> None:
        with pytest.raises(OperatorRefused) as refused:
            async with op_connect(op, steals=[(8000, None)]):
                pass
        assert refused.value.status == 403 and str(refused.value).startswith(UNFILTERED)

    run(tmp_path, test, NO_UNFILTERED)


def op_connect(op: Running, **kwargs: Any) -> Any:
    return OperatorApi(op.address).connect("deployment/web", **kwargs)


def test_excluded_env_names_never_reach_the_client(tmp_path: Path) -> None:
    async def test(op: Running) -> None:
        async with session(op) as peer:
            await peer.send(EnvRequest(request=RequestId(7)))
            answer = await peer.expect(EnvResponse, timeout=2)
            assert "GREETING" not in answer.env
            assert answer.env["HOSTNAME"] == op.cluster.pod("web").plan.name

    run(tmp_path, test, policy("no-greeting", {"env": {"exclude": ["GREET*"]}}))


def test_a_policy_added_drops_a_running_steal_and_tells_its_client(tmp_path: Path) -> None:
    async def test(op: Running) -> None:
        async with session(op) as peer:
            assert (await subscribe(peer)).ok
            op.policies.put(NO_UNFILTERED)
            told = await peer.expect(Log, timeout=5)
            assert told.message.startswith(f"PolicyChanged: {UNFILTERED}")
            assert (await peer.expect(Unsubscribe, timeout=2)).port == 8000
            agent = op.cluster.agent("web")
            await async_wait_until(
                lambda: agent.subscribed() == {}, timeout=5, what="the steal dropped at the agent"
            )
            assert [e["event"] for e in audit_events(op.service)].count("policy_changed") == 1
            assert not (await subscribe(peer, request=2)).ok  # new ones follow the new rules
            op.policies.delete(NO_UNFILTERED)
            await async_wait_until(
                lambda: op.service.policies.source.snapshot().policies == (),
                timeout=2,
                what="the policy gone",
            )
            assert (await subscribe(peer, request=3)).ok

    run(tmp_path, test)


def test_a_selector_policy_applies_to_a_pod_with_its_labels(tmp_path: Path) -> None:
    web = policy("web-no-steal", {"selector": {"matchLabels": {"app": "web"}}, "block": ["steal"]})
    db = {"matchLabels": {"app": "db"}}
    other = policy("db-no-mirror", {"selector": db, "block": ["mirror"]})

    async def test(op: Running) -> None:
        pod = op.cluster.pod("web").plan.name
        async with session(op, f"pod/{pod}") as peer:
            answer = await subscribe(peer, HttpFilter(header="x-user: a"))
            assert answer.error is not None
            assert answer.error.startswith(f"policy default/web-no-steal blocks steal on pod/{pod}")
            assert (await subscribe(peer, mode=IncomingMode.MIRROR, request=2)).ok

    run(tmp_path, test, web, other)


class ProfileAddress(OperatorAddress):
    """An address whose connects select a profile (as `profile:` in a config would)."""

    def __init__(self, value: str, profile: str) -> None:
        super().__init__(value)
        self.profile = profile

    def url(self, path: str) -> str:
        return super().url(path) + "?" + urlencode({"profile": self.profile})


def profile(name: str, changes: list[str]) -> dict[str, Any]:
    return {
        "apiVersion": "profiles.podtap.dev/v1alpha1",
        "kind": "PodtapClusterProfile",
        "metadata": {"name": name, "resourceVersion": "1"},
        "spec": {"featureAdjustments": [{"change": c} for c in changes]},
    }


def test_a_profile_turning_steal_into_mirror_refuses_a_steal_naming_it(tmp_path: Path) -> None:
    async def test(op: Running) -> None:
        address = ProfileAddress(op.address.value, "mirror-only")
        async with operator_session(address, "deployment/web") as (_, peer):
            refused = await subscribe(peer, HttpFilter(header="x-user: a"))
            assert refused.error == "profile mirror-only makes incoming mirror: steal is refused"
            assert (await subscribe(peer, mode=IncomingMode.MIRROR, request=2)).ok
            await peer.send(GetAddrInfoRequest(request=RequestId(3), host="localhost"))
            dns = await peer.expect(GetAddrInfoResponse, timeout=2)
            assert dns.error == (
                "profile mirror-only turns remote DNS off: localhost is not resolved in the cluster"
            )
        status, error = await plain_connect(op, profile="nope")
        assert status == 404 and error == (
            "profile nope is not found: list them with kubectl get podtapprofiles -A "
            "and kubectl get podtapclusterprofiles"
        )

    run(tmp_path, test, profile("mirror-only", ["incoming-mirror", "dns-off"]))


def test_a_port_handed_over_after_a_policy_change_is_refused_not_granted(tmp_path: Path) -> None:
    """bob takes alice's whole steal with override; a policy comes during the hand-off:
    alice's steal is dropped, and the port is not granted to bob's unfiltered steal."""

    async def test(op: Running) -> None:
        async with (
            operator_session(op.address, "deployment/web") as (_, alice),
            operator_session(op.address, "deployment/web", on_concurrent_steal="override") as (
                _,
                bob,
            ),
        ):
            assert (await subscribe(alice)).ok
            await bob.send(Subscribe(request=RequestId(5), port=Port(8000),
                                     mode=IncomingMode.STEAL, http_filter=None))  # fmt: skip
            assert "handed over to this session" in (await bob.expect(Log, timeout=2)).message
            op.policies.put(NO_UNFILTERED)
            answer = await bob.expect(SubscribeResult, timeout=5)
            assert answer.request == 5 and not answer.ok and answer.error is not None
            assert answer.error.startswith(UNFILTERED)
            agent = op.cluster.agent("web")
            await async_wait_until(
                lambda: agent.subscribed() == {}, timeout=5, what="no steal left at the agent"
            )
            assert all(not r.subscriptions for r in op.service.records.values())

    run(tmp_path, test, grace=30)
