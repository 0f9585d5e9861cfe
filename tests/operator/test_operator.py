"""The operator end to end on the local cluster: sessions, arbitration, relay, kill."""

from __future__ import annotations

import asyncio
import http.client
import json
import os
import subprocess

import pytest

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

ALICE = HttpFilter(header=r"^x-user: alice$")
BOB = HttpFilter(header=r"^x-user: bob$")


def address(cluster: LocalCluster) -> OperatorAddress:
    return OperatorAddress(f"unix:{cluster.state_home}/local/{cluster.name}/operator.sock")


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


def status(cluster: LocalCluster) -> dict[str, object]:
    return json.loads(cluster.podtap("operator", "status", "-o", "json").stdout)  # type: ignore[no-any-return]


def test_two_filters_and_a_mirror_share_a_port_and_status_shows_them(
    shop: LocalCluster, web: dict[str, int]
) -> None:
    async def go() -> None:
        op, tasks = address(shop), TaskSet()
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

            def metrics() -> str:
                sock = op.value.removeprefix("unix:")
                return subprocess.run(
                    ["curl", "-s", "--unix-socket", sock, "http://x/metrics"],
                    capture_output=True,
                    text=True,
                ).stdout

            def counted() -> bool:  # agents report their counters with every pong (3 s)
                text = metrics()
                return all(
                    f'podtap_agent_traffic_total{{kind="{kind}"}}' in text
                    for kind in ("requests_routed", "requests_passed")
                )

            await asyncio.to_thread(wait_until, counted, timeout=10, what="agent counters")
            assert "podtap_sessions 3.0" in metrics()
            await tasks.close()

    asyncio.run(go())


def test_unfiltered_steal_is_refused_with_the_holder_then_override_takes_the_port(
    shop: LocalCluster, web: dict[str, int]
) -> None:
    async def go() -> None:
        op, tasks = address(shop), TaskSet()
        async with operator_session(op, "deployment/web") as (held, alice):
            assert (await subscribe(alice, ALICE)).ok
            async with operator_session(op, "deployment/web") as (_, carol):
                refused = await subscribe(carol, None)
                assert not refused.ok and refused.error
                assert held.label in refused.error and "root/root@" in refused.error
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
        op, tasks = address(shop), TaskSet()
        async with operator_session(op, "deployment/web") as (session, alice):
            assert (await subscribe(alice, None)).ok
            tasks.spawn(serve_connections(alice, b"stolen"), name="alice")
            assert await asyncio.to_thread(get, web["http"]) == b"stolen"
            await tasks.close()  # from here on the test reads alice's frames itself
            sock = address(shop).value.removeprefix("unix:")
            os.chmod(shop.state_home, 0o755)
            os.chmod(shop.state_home / "local", 0o755)
            os.chmod(shop.state_home / "local" / shop.name, 0o755)
            nobody = await asyncio.to_thread(
                subprocess.run,
                [
                    "setpriv",
                    "--reuid=65534",
                    "--regid=65534",
                    "--clear-groups",
                    "curl",
                    "-s",
                    "--unix-socket",
                    sock,
                    "-X",
                    "DELETE",
                    f"http://operator/apis/operator.podtap.dev/v1/sessions/{session.label}",
                ],
                capture_output=True,
                text=True,
            )
            assert "only its owner or an admin may kill it" in nobody.stdout, nobody
            killed = await asyncio.to_thread(
                shop.podtap, "operator", "session", "kill", session.label
            )
            assert session.label in killed.stdout
            close = await alice.expect(Close)
            assert close.reason == CloseReason.KILLED and close.message == "Killed by root"
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
from podtap.client.host.operator_api import OperatorAddress
from podtap.core.ids import Port, RequestId
from podtap.core.protocol import IncomingMode, Subscribe, SubscribeResult
from podtap.testing.opclient import operator_session

async def main():
    async with operator_session(OperatorAddress(sys.argv[1]), "deployment/web") as (s, peer):
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
        [sys.executable, "-c", CLIENT, address(shop).value], stdout=subprocess.PIPE, text=True
    )
    try:
        assert proc.stdout is not None
        label = proc.stdout.readline().strip()
        assert label in json.dumps(status(shop))
    finally:
        proc.kill()
        proc.wait()
    wait_until(lambda: from_app(get(web["http"])), timeout=3, what="the port to be released")
    wait_until(
        lambda: label not in json.dumps(status(shop)),
        timeout=15,
        what="the session to close after the 6 s unused TTL",
    )
    audit = (shop.state_home / "local" / shop.name / "operator" / "audit.jsonl").read_text()
    ended = [json.loads(line) for line in audit.splitlines() if label in line]
    assert ended[-1]["event"] == "session_end" and ended[-1]["reason"] == "Unused"


def test_operator_restart_restores_sessions_and_leaks_no_rule(
    shop: LocalCluster, web: dict[str, int], monkeypatch: pytest.MonkeyPatch
) -> None:
    import signal

    from podtap.backends.local.launcher import operator_pid, start_operator
    from podtap.backends.local.paths import ClusterPaths
    from tests.agent.conftest import assert_no_agent_table

    paths = ClusterPaths(shop.state_home / "local" / shop.name)
    monkeypatch.setenv("PODTAP_UNUSED_TTL", shop.env["PODTAP_UNUSED_TTL"])  # as `local up` had

    async def go() -> None:
        op, tasks = address(shop), TaskSet()
        async with (
            operator_session(op, "deployment/web") as (kept, alice),
            operator_session(op, "deployment/web") as (lost, bob),
        ):
            assert (await subscribe(alice, ALICE)).ok
            assert (await subscribe(bob, BOB)).ok
            pid = operator_pid(paths)
            assert pid is not None
            os.kill(pid, signal.SIGKILL)
            assert (await alice.expect(Close)).reason == CloseReason.OTHER
            await asyncio.to_thread(assert_no_agent_table, web["pid"])
            assert from_app(await asyncio.to_thread(get, web["http"], "alice"))
        await start_operator(paths)
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
            timeout=15,
            what="the session whose client never came back to close",
        )
        audit = (paths.root / "operator" / "audit.jsonl").read_text()
        ends = [json.loads(x) for x in audit.splitlines() if lost.label in x and "_end" in x]
        assert ends and ends[-1]["reason"] == "StateLost"

    asyncio.run(go())
