"""The fast path never reorders, drops or invents a byte (issue 9, request smuggling).

Many keep-alive connections through a port a filtered steal holds, matched and unmatched
requests alternating, heads and bodies (some shaped like request heads) split anywhere and
written with gaps: every answer must be the one its own request deserves. The long form is
``bench/fast_path_stress.py``."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from podtap.net.tasks import TaskSet
from podtap.testing.agentproc import AgentProcess, agent_link
from podtap.testing.fakedev import serve_requests
from podtap.testing.http_stress import SMUGGLED, alice_reply, stress
from tests.agent.test_agent_http import ALICE, steal


@asynccontextmanager
async def alice_holds_the_port(agent: AgentProcess) -> AsyncIterator[None]:
    """A session steals alice's requests to port 8000 and answers what it received."""
    tasks = TaskSet()
    async with agent_link(agent) as link:
        alice = link.session()
        await steal(alice, 8000, ALICE)
        tasks.spawn(serve_requests(alice, alice_reply), name="alice")
        try:
            yield
        finally:
            await tasks.close()


def test_keep_alive_connections_with_split_writes_get_their_own_answers(
    web_agent: AgentProcess, web: dict[str, int]
) -> None:
    async def go() -> None:
        async with alice_holds_the_port(web_agent):
            result = await stress(
                host="127.0.0.1",
                port=web["http"],
                connections=12,
                rounds=25,
                max_body=300_000,
                seed=9,
            )
        assert result.wrong == []
        assert result.requests == 12 * 25
        assert 0 < result.matched < result.requests

    asyncio.run(go())


def test_a_body_shaped_like_a_request_is_never_executed(
    web_agent: AgentProcess, web: dict[str, int]
) -> None:
    """A stolen GET, then an unmatched POST whose head and body (itself a GET head) are
    written apart: the app must see one POST with that body, not the GET inside it."""

    async def go() -> None:
        async with alice_holds_the_port(web_agent):
            for attempt in range(20):
                reader, writer = await asyncio.open_connection("127.0.0.1", web["http"])
                try:
                    writer.write(b"GET /whoami HTTP/1.1\r\nHost: web\r\nx-user: alice\r\n\r\n")
                    first = await _response(reader)
                    assert b'"app": "alice"' in first, first
                    head = b"POST /upload HTTP/1.1\r\nHost: web\r\nContent-Length: %d\r\n\r\n"
                    writer.write(head % len(SMUGGLED))
                    await writer.drain()
                    await asyncio.sleep(0.001 * (attempt % 4))  # traffic shape
                    writer.write(SMUGGLED)
                    second = await _response(reader)
                    assert b'"size": %d' % len(SMUGGLED) in second, second
                    assert b"/smuggled" not in second, second
                finally:
                    writer.close()

    asyncio.run(go())


async def _response(reader: asyncio.StreamReader) -> bytes:
    """One response with a Content-Length body, read within 10 s."""
    head = await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), 10)
    length = 0
    for line in head.split(b"\r\n"):
        name, _, value = line.partition(b":")
        if name.strip().lower() == b"content-length":
            length = int(value)
    return head + await asyncio.wait_for(reader.readexactly(length), 10)
