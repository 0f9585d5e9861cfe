"""The operator's link to an agent: a malformed message for one session ends that session
only (issue 9: one frame must never end every session on a pod)."""

from __future__ import annotations

import asyncio
from pathlib import Path

import aiohttp

from podtap.backends.base import AgentEndpoint
from podtap.core.ids import SessionId
from podtap.core.protocol import Close, CloseReason, Envelope, Payload, Ping
from podtap.net.tasks import TaskSet
from podtap.net.wire import WireConnection
from podtap.operator.agents import AgentLink
from podtap.testing.wait import async_wait_until
from tests.net.test_wire_faults import BAD_INNER, served


def test_a_malformed_message_from_the_agent_ends_only_its_session(tmp_path: Path) -> None:
    async def go() -> None:
        received: dict[int, list[Payload]] = {42: [], 7: []}
        done = asyncio.Event()

        async def agent(wire: WireConnection) -> object:  # the served side plays the agent
            await wire.ws.send_bytes(BAD_INNER)  # malformed inside session 42's envelope
            await wire.send(Envelope(session=SessionId(7), message=Ping(nonce=1)))
            return await done.wait()

        async with served(tmp_path, agent) as (ws, _):
            http = aiohttp.ClientSession()
            link = AgentLink(
                ("ns", "pod"),
                AgentEndpoint(url="unix:", token="t", handle="0"),
                WireConnection(ws, session_faults=True),
                http,
            )
            for sid, inbox in received.items():
                link.sessions[SessionId(sid)] = inbox.append
            tasks = TaskSet()
            tasks.spawn(link.run(), name="agent link")
            try:
                await async_wait_until(lambda: received[7], what="session 7's frame")
                assert not link.lost.is_set()  # the link goes on
            finally:
                done.set()
                await tasks.close()
                await http.close()
            (close,) = received[42]
            assert isinstance(close, Close) and close.reason == CloseReason.AGENT_FAILED
            assert "malformed" in close.message
            assert received[7] == [Ping(nonce=1)]

    asyncio.run(go())
