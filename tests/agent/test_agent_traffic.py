"""The agent in a real pod: steal, mirror, pass through, and never break the app."""

from __future__ import annotations

import asyncio
import http.client
import time

import aiohttp
import pytest

from podtap.core.ids import Port, RequestId
from podtap.core.protocol import (
    Data,
    IncomingMode,
    MirrorDropped,
    StreamClose,
    Subscribe,
    SubscribeResult,
    Unsubscribe,
)
from podtap.testing.agentproc import AgentProcess, SessionPeer, agent_link
from podtap.testing.wait import wait_until
from tests.agent.conftest import assert_no_agent_table

RESPONSE = b"HTTP/1.1 200 OK\r\nContent-Length: 6\r\nConnection: close\r\n\r\nstolen"


def get(port: int, path: str = "/whoami", headers: dict[str, str] | None = None) -> bytes:
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
    try:
        conn.request("GET", path, headers=headers or {})
        return conn.getresponse().read()
    finally:
        conn.close()


def app_answers(port: int) -> bool:
    """True once a new connection is answered by the app (errors while rules go: False)."""
    try:
        return from_app(get(port))
    except (OSError, http.client.HTTPException):
        return False


def from_app(body: bytes) -> bool:
    return body.startswith(b"{") and b'"pod": "shop-' in body


async def subscribe(peer: SessionPeer, mode: IncomingMode = IncomingMode.STEAL) -> None:
    await peer.send(Subscribe(request=RequestId(1), port=Port(8080), mode=mode))
    result = await peer.expect(SubscribeResult)
    assert result.ok, result.error


async def answer_stolen(peer: SessionPeer) -> bytes:
    """Act as the developer's app for one stolen connection; return the request bytes."""
    conn, request = await peer.first_request(IncomingMode.STEAL)
    await peer.send(Data(stream=conn.stream, data=RESPONSE))
    await peer.send(StreamClose(stream=conn.stream))
    return request


def test_unfiltered_steal_then_unsubscribe_gives_traffic_back(
    agent: AgentProcess, shop_port: int
) -> None:
    async def go() -> None:
        async with agent_link(agent) as link:
            peer = link.session()
            await subscribe(peer)
            answer = asyncio.ensure_future(answer_stolen(peer))
            body = await asyncio.to_thread(get, shop_port)
            assert body == b"stolen"
            assert (await answer).startswith(b"GET /whoami HTTP/1.1\r\n")
            await peer.send(Unsubscribe(port=Port(8080)))
            assert await asyncio.to_thread(
                wait_until, lambda: app_answers(shop_port), timeout=5, what="the app"
            )

    asyncio.run(go())


def test_mirror_copies_requests_and_the_app_still_answers(
    agent: AgentProcess, shop_port: int
) -> None:
    async def go() -> None:
        async with agent_link(agent) as link:
            peer = link.session()
            await subscribe(peer, IncomingMode.MIRROR)
            body = await asyncio.to_thread(get, shop_port, "/whoami", {"x-copy": "1"})
            assert from_app(body)
            _, copy = await peer.first_request(IncomingMode.MIRROR)
            assert copy.startswith(b"GET /whoami HTTP/1.1\r\n")
            assert b"x-copy: 1\r\n" in copy

    asyncio.run(go())


def test_a_stalled_mirror_subscriber_loses_copies_not_traffic(
    agent: AgentProcess, shop_port: int
) -> None:
    pad = {"x-pad": "p" * 1000}  # 600 requests: more than a window; the subscriber is silent

    async def go() -> None:
        async with agent_link(agent) as link:
            peer = link.session()
            await subscribe(peer, IncomingMode.MIRROR)

            def many() -> int:
                conn = http.client.HTTPConnection("127.0.0.1", shop_port, timeout=20)
                answered = 0
                for _ in range(600):
                    conn.request("GET", "/whoami", headers=pad)
                    answered += from_app(conn.getresponse().read())
                conn.close()
                return answered

            assert await asyncio.to_thread(many) == 600
            async with asyncio.timeout(10):
                while not isinstance(msg := await peer.inbox.get(), MirrorDropped):
                    pass
            assert msg.count > 0 and msg.port == 8080

    asyncio.run(go())


def test_connections_open_before_the_agent_keep_talking_to_the_app(
    frontend_pid: int, shop_port: int, tmp_path: object
) -> None:
    from pathlib import Path

    conn = http.client.HTTPConnection("127.0.0.1", shop_port, timeout=10)
    conn.request("GET", "/whoami")
    assert from_app(conn.getresponse().read())
    agent = AgentProcess(pid=frontend_pid, socket_path=Path(str(tmp_path)) / "a.sock")
    try:

        async def go() -> None:
            async with agent_link(agent) as link:
                await subscribe(link.session())
                for _ in range(5):
                    conn.request("GET", "/whoami")
                    assert from_app(conn.getresponse().read())

        asyncio.run(go())
    finally:
        conn.close()
        agent.kill()


def test_sigkill_of_the_agent_gives_the_port_back_within_a_second_20_times(
    frontend_pid: int, shop_port: int, tmp_path: object
) -> None:
    from pathlib import Path

    for i in range(20):
        agent = AgentProcess(pid=frontend_pid, socket_path=Path(str(tmp_path)) / f"k{i}.sock")

        async def steal_once(agent: AgentProcess = agent) -> None:
            async with agent_link(agent) as link:
                peer = link.session()
                await subscribe(peer)
                answer = asyncio.ensure_future(answer_stolen(peer))
                assert await asyncio.to_thread(get, shop_port) == b"stolen"
                await answer
                agent.kill()
                killed = time.monotonic()
                await asyncio.to_thread(
                    wait_until,
                    lambda: app_answers(shop_port),
                    timeout=1.0,
                    what="the app to answer after SIGKILL",
                )
                assert time.monotonic() - killed < 1.0

        asyncio.run(steal_once())
        assert_no_agent_table(frontend_pid)


def test_a_wrong_token_is_refused(agent: AgentProcess) -> None:
    async def go() -> None:
        with pytest.raises(aiohttp.WSServerHandshakeError) as err:
            async with agent_link(agent, token="not-the-token"):
                pass
        assert err.value.status == 401

    asyncio.run(go())


def test_agent_without_operator_exits_and_removes_its_rules(
    frontend_pid: int, tmp_path: object
) -> None:
    from pathlib import Path

    agent = AgentProcess(
        pid=frontend_pid, socket_path=Path(str(tmp_path)) / "i.sock", idle_exit=0.5
    )
    assert agent.proc.wait(timeout=10) == 0
    assert_no_agent_table(frontend_pid)
