"""The operator end to end on the local cluster, installed by its chart and reached through
the API server as any client reaches it: sessions, arbitration, relay, kill, restart."""

from __future__ import annotations

import asyncio
import http.client
import json
import subprocess
from typing import Any

from podtap.client.host.kube_address import kube_address
from podtap.client.host.operator_api import OperatorAddress
from podtap.core.ids import Port, RequestId
from podtap.core.protocol import (
    Close,
    CloseReason,
    Data,
    HttpFilter,
    IncomingMode,
    Log,
    Subscribe,
    SubscribeResult,
)
from podtap.net.tasks import TaskSet
from podtap.testing.agentproc import SessionPeer
from podtap.testing.fakedev import serve_connections, serve_requests, text_reply
from podtap.testing.localcluster import LocalCluster
from podtap.testing.opclient import operator_session
from podtap.testing.wait import wait_until
from tests.cluster.test_kubectl_local import Kubectl
from tests.conftest import SHOP_TTL
from tests.kube_users import limited_user

LINGER = 5  # seconds an agent pod outlives its last session: the shop fixture's agent.linger
AUDIT = "/tmp/podtap/audit.jsonl"  # in the chart's PODTAP_STATE_DIR (an emptyDir)
OPERATOR_LABEL = "app.kubernetes.io/name=podtap-operator"
ALICE = HttpFilter(header=r"^x-user: alice$")
BOB = HttpFilter(header=r"^x-user: bob$")


async def address(cluster: LocalCluster) -> OperatorAddress:
    """The operator through the cluster's API server, as the cluster's admin."""
    return await kube_address(files=str(cluster.kubeconfig), context=None)


def kubectl(cluster: LocalCluster) -> Kubectl:
    return Kubectl(cluster.kubeconfig, cluster.state_home)


def metrics(cluster: LocalCluster) -> str:
    """The operator's /metrics, from a pod, through its Service (metrics.enabled)."""
    return cluster.curl("http://podtap-operator.podtap:9090/metrics")


def audit(cluster: LocalCluster) -> list[dict[str, object]]:
    """The operator's audit log, read in its pod."""
    text = kubectl(cluster)(
        "exec", "-n", "podtap", "deploy/podtap-operator", "--", "cat", AUDIT
    ).stdout
    return [json.loads(line) for line in text.splitlines()]


async def subscribe(
    peer: SessionPeer, flt: HttpFilter | None, mode: IncomingMode = IncomingMode.STEAL
) -> SubscribeResult:
    await peer.send(Subscribe(request=RequestId(1), port=Port(8000), mode=mode, http_filter=flt))
    return await peer.expect(SubscribeResult)


def get(port: int, user: str | None = None) -> bytes:
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
    try:
        conn.request("GET", "/whoami", headers={"x-user": user} if user else {})
        return conn.getresponse().read()
    finally:
        conn.close()


def from_app(body: bytes) -> bool:
    return body.startswith(b"{") and json.loads(body)["app"].startswith("web-")


def app_answers(port: int) -> bool:
    """The app answers a new request (False while a dead client's steal still takes it:
    the connection is then dropped)."""
    try:
        return from_app(get(port))
    except (OSError, http.client.HTTPException):
        return False


def status(cluster: LocalCluster) -> dict[str, object]:
    return json.loads(cluster.podtap("operator", "status", "-o", "json").stdout)  # type: ignore[no-any-return]


def test_two_filters_and_a_mirror_share_a_port_and_status_shows_them(
    shop: LocalCluster, web: dict[str, int]
) -> None:
    async def go() -> None:
        op, tasks = await address(shop), TaskSet()
        async with (
            operator_session(op, "deployment/web") as (_, alice),
            operator_session(op, "deployment/web") as (_, bob),
            operator_session(op, "deployment/web") as (_, mirror),
        ):
            assert (await subscribe(alice, ALICE)).ok
            assert (await subscribe(bob, BOB)).ok
            assert (await subscribe(mirror, None, IncomingMode.MIRROR)).ok
            tasks.spawn(serve_requests(alice, text_reply("alice's laptop")), name="alice")
            tasks.spawn(serve_requests(bob, text_reply("bob's laptop")), name="bob")
            assert await asyncio.to_thread(get, web["http"], "alice") == b"alice's laptop"
            assert await asyncio.to_thread(get, web["http"], "bob") == b"bob's laptop"
            assert from_app(await asyncio.to_thread(get, web["http"], "carol"))
            copied = b""
            async with asyncio.timeout(10):
                while copied.count(b"GET /whoami") < 3:
                    msg = await mirror.expect(Data)
                    copied += msg.data
                    await mirror.credit(msg.stream, len(msg.data))
            text = (await asyncio.to_thread(shop.podtap, "operator", "status")).stdout
            assert "8000 steal header=^x-user: alice$" in text
            assert "8000 steal header=^x-user: bob$" in text
            assert "8000 mirror" in text
            assert text.count("deployment/web") == 3

            def counted() -> bool:  # agents report their counters with every pong (3 s)
                text = metrics(shop)
                return all(
                    f'podtap_agent_traffic_total{{kind="{kind}"}}' in text
                    for kind in ("requests_routed", "requests_passed")
                )

            await asyncio.to_thread(wait_until, counted, timeout=10, what="agent counters")
            assert "podtap_sessions 3.0" in metrics(shop)
            await tasks.close()

    asyncio.run(go())


def test_unfiltered_steal_is_refused_with_the_holder_then_override_takes_the_port(
    shop: LocalCluster, web: dict[str, int]
) -> None:
    async def go() -> None:
        op, tasks = await address(shop), TaskSet()
        async with operator_session(op, "deployment/web") as (held, alice):
            assert (await subscribe(alice, ALICE)).ok
            async with operator_session(op, "deployment/web") as (_, carol):
                refused = await subscribe(carol, None)
                assert not refused.ok and refused.error
                assert held.label in refused.error and "root/podtap-admin@" in refused.error
            async with operator_session(op, "deployment/web", on_concurrent_steal="override") as (
                _,
                dave,
            ):
                assert (await subscribe(dave, None)).ok
                warning = await alice.expect(Log)
                assert "taken over" in warning.message and "override" in warning.message
                tasks.spawn(serve_connections(dave, b"dave takes all"), name="dave")
                assert await asyncio.to_thread(get, web["http"], "alice") == b"dave takes all"
                await tasks.close()

    asyncio.run(go())


def test_kill_tells_the_client_releases_the_port_and_needs_rights(
    shop: LocalCluster, web: dict[str, int]
) -> None:
    async def go() -> None:
        op, tasks = await address(shop), TaskSet()
        async with operator_session(op, "deployment/web") as (session, alice):
            assert (await subscribe(alice, None)).ok
            tasks.spawn(serve_connections(alice, b"stolen"), name="alice")
            assert await asyncio.to_thread(get, web["http"]) == b"stolen"
            await tasks.close()  # from here on the test reads alice's frames itself
            mallory = await asyncio.to_thread(limited_user, shop, "mallory")
            refused = await asyncio.to_thread(
                shop.podtap,
                *("operator", "session", "kill", session.label, "--kubeconfig", str(mallory)),
                check=False,
            )
            assert refused.returncode == 1, refused
            assert "only its owner or an admin may kill it" in refused.stderr, refused
            killed = await asyncio.to_thread(
                shop.podtap, "operator", "session", "kill", session.label
            )
            assert session.label in killed.stdout
            close = await alice.expect(Close)
            assert close.reason == CloseReason.KILLED and close.message == "Killed by podtap-admin"
        assert await asyncio.to_thread(
            wait_until,
            lambda: from_app(get(web["http"])),
            timeout=5,
            what="the app to answer again",
        )
        assert session.label not in json.dumps(status(shop))

    asyncio.run(go())


CLIENT = """
import asyncio, sys
from podtap.client.host.kube_address import kube_address
from podtap.client.host.operator_api import OperatorAddress
from podtap.core.ids import Port, RequestId
from podtap.core.protocol import IncomingMode, Subscribe, SubscribeResult
from podtap.testing.opclient import operator_session

async def main():
    op = await kube_address(files=sys.argv[1], context=None)
    async with operator_session(op, "deployment/web") as (s, peer):
        await peer.send(Subscribe(request=RequestId(1), port=Port(8000), mode=IncomingMode.STEAL))
        assert (await peer.expect(SubscribeResult)).ok
        print(s.label, flush=True)
        await asyncio.Event().wait()

asyncio.run(main())
"""


def test_a_sigkilled_client_loses_its_port_and_its_session_within_the_ttl(
    shop: LocalCluster, web: dict[str, int]
) -> None:
    import sys

    proc = subprocess.Popen(
        [sys.executable, "-c", CLIENT, str(shop.kubeconfig)], stdout=subprocess.PIPE, text=True
    )
    try:
        assert proc.stdout is not None
        label = proc.stdout.readline().strip()
        assert label in json.dumps(status(shop))
    finally:
        proc.kill()
        proc.wait()
    # the client's end travels kill -> API server -> operator -> agent: a moment, not its TTL
    wait_until(lambda: app_answers(web["http"]), timeout=5, what="the port to be released")
    wait_until(
        lambda: label not in json.dumps(status(shop)),
        timeout=SHOP_TTL + 10,
        what=f"the session to close after the {SHOP_TTL} s unused TTL",
    )
    ended = [e for e in audit(shop) if label in json.dumps(e)]
    assert ended[-1]["event"] == "session_end" and ended[-1]["reason"] == "Unused"


def operator_pods(cluster: LocalCluster) -> list[str]:
    found = kubectl(cluster).json(
        "pods", "-n", "podtap", "-l", "app.kubernetes.io/name=podtap-operator"
    )
    return [p["metadata"]["name"] for p in found["items"] if ready(p)]


def answers(cluster: LocalCluster) -> bool:
    return cluster.podtap("operator", "status", check=False).returncode == 0


def ready(pod: dict[str, Any]) -> bool:
    conditions = pod.get("status", {}).get("conditions") or []
    return any(c["type"] == "Ready" and c["status"] == "True" for c in conditions)


def test_operator_restart_restores_sessions_and_leaks_no_rule(
    shop: LocalCluster, web: dict[str, int]
) -> None:
    """The operator's pod killed (--force: SIGKILL, no goodbye): its Deployment starts
    another, which restores both sessions from their PodtapSession objects; the one whose
    client comes back gets its port again, the other ends when its TTL has run out."""
    from tests.agent.conftest import agent_tables

    wait_until(  # no session of an earlier test still holds the port
        lambda: not status(shop)["sessions"], timeout=SHOP_TTL + 10, what="no session left"
    )

    async def go() -> None:
        op, tasks = await address(shop), TaskSet()
        async with (
            operator_session(op, "deployment/web") as (kept, alice),
            operator_session(op, "deployment/web") as (lost, bob),
        ):
            assert (await subscribe(alice, ALICE)).ok
            assert (await subscribe(bob, BOB)).ok
            (first,) = operator_pods(shop)
            kubectl(shop)("delete", "pod", "-n", "podtap", first, "--grace-period=0", "--force")
            assert (await alice.expect(Close, timeout=20)).reason == CloseReason.OTHER
            assert from_app(await asyncio.to_thread(get, web["http"], "alice"))
        await asyncio.to_thread(
            wait_until,
            lambda: [p for p in operator_pods(shop) if p != first] and answers(shop),
            timeout=60,
            what="the operator's next pod to be ready and to answer (leader, endpoints)",
        )
        restored = {s["id"]: s for s in status(shop)["sessions"]}  # type: ignore[attr-defined]
        assert {kept.label, lost.label} <= set(restored)
        assert restored[kept.label]["ports"] == "8000 steal header=^x-user: alice$"
        async with operator_session(op, "deployment/web", resume=kept.id) as (again, alice):
            assert again.label == kept.label
            await alice.expect(SubscribeResult)  # the restored subscription, re-applied
            tasks.spawn(serve_requests(alice, text_reply("alice is back")), name="alice")
            assert await asyncio.to_thread(get, web["http"], "alice") == b"alice is back"
            await tasks.close()
        await asyncio.to_thread(
            wait_until,
            lambda: lost.label not in json.dumps(status(shop)),
            timeout=20,
            what="the session whose client never came back to close",
        )
        ends = [e for e in audit(shop) if lost.label in json.dumps(e) and "_end" in str(e["event"])]
        assert ends and ends[-1]["reason"] == "StateLost"
        await asyncio.to_thread(
            wait_until,
            lambda: not [s for s in status(shop)["sessions"]],  # type: ignore[attr-defined]
            timeout=20,
            what="every session to end",
        )
        await asyncio.to_thread(
            wait_until,
            lambda: "podtap_agent" not in agent_tables(web["pid"]),
            timeout=LINGER + 15,
            what="the agent (its linger over) to go, and its rules with it",
        )

    asyncio.run(go())
