"""A client channel carried over to a new link (client/channel.py, client/reconnect.py),
over fake wires: no operator, no root."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any, cast

import pytest

from podtap.client.host.channel import ClientChannel, SessionEnded
from podtap.client.host.operator_api import ClientSession, OperatorUnavailable, SessionGone
from podtap.client.host.reconnect import keep_linked
from podtap.core.ids import Port, RequestId, SessionId, StreamId
from podtap.core.protocol import (
    Close,
    CloseReason,
    Connect,
    ConnectResult,
    Data,
    EnvRequest,
    EnvResponse,
    IncomingMode,
    NewConnection,
    StreamClose,
)
from podtap.net.wire import ConnectionClosed
from podtap.testing.wait import async_wait_until

SESSION = SessionId(0xAB)
NEW_2 = NewConnection(
    stream=StreamId(2),
    port=Port(80),
    remote_addr="a",
    remote_port=Port(1),
    local_addr="b",
    local_port=Port(80),
    mode=IncomingMode.STEAL,
)


class FakeWire:
    """What the channel sends, and what the test makes the operator say (an exception
    ends the link: ConnectionClosed() is a drop, with a Close it is the end)."""

    def __init__(self) -> None:
        self.sent: list[Any] = []
        self.inbox: asyncio.Queue[Any] = asyncio.Queue()

    async def send(self, message: Any) -> None:
        self.sent.append(message)

    async def receive(self) -> Any:
        message = await self.inbox.get()
        if isinstance(message, BaseException):
            raise message
        return message


def session(wire: FakeWire) -> ClientSession:
    return ClientSession(SESSION, cast(Any, wire))


class Endpoint:
    def __init__(self) -> None:
        self.data: list[bytes] = []
        self.closed: list[str | None] = []

    async def on_data(self, data: bytes) -> None:
        self.data.append(data)

    async def on_close(self, error: str | None) -> None:
        self.closed.append(error)


def test_a_drop_ends_streams_asks_requests_again_and_keeps_old_stream_frames_off_the_new_link() -> (
    None
):
    async def go() -> None:
        old, new = FakeWire(), FakeWire()
        channel = ClientChannel(session(old))
        stolen: list[Endpoint] = []

        async def incoming(message: Any) -> bool:  # as client/incoming.py opens them
            stolen.append(Endpoint())
            channel.open_stream(message.stream, stolen[-1])
            return True

        channel.on_other = incoming
        running = asyncio.create_task(channel.run())
        await old.inbox.put(NEW_2)
        await async_wait_until(lambda: StreamId(2) in channel.streams, what="the stream")
        asked = asyncio.create_task(channel.request(lambda rid: EnvRequest(request=rid)))
        await async_wait_until(lambda: old.sent, what="the request")
        old.inbox.put_nowait(ConnectionClosed())  # no Close: a dropped link
        close = await running
        assert channel.link_lost and close.reason is CloseReason.OTHER
        assert stolen[0].closed == [close.message]  # the app sees a reset
        connecting = asyncio.create_task(channel.connect("db", 5432, endpoint=lambda s: Endpoint()))
        await asyncio.sleep(0.01)
        assert not connecting.done()  # waits for the new link

        channel.relink(session(new))
        running = asyncio.create_task(channel.run())
        await async_wait_until(lambda: len(new.sent) == 2, what="the request and the connect")
        request, connect = new.sent
        assert request == old.sent[0]  # asked again, same id
        assert isinstance(connect, Connect) and connect.host == "db"
        new.inbox.put_nowait(EnvResponse(request=request.request, env={"A": "1"}))
        new.inbox.put_nowait(ConnectResult(stream=connect.stream, ok=True))
        assert (await asked) == EnvResponse(request=RequestId(request.request), env={"A": "1"})
        assert (await connecting).ok

        # stream 2 again, on the new link: a stream of its own here
        await new.inbox.put(NEW_2)
        await async_wait_until(lambda: len(channel.streams) == 2, what="the new stream")
        (local,) = [s for s in channel.streams if s not in (connect.stream,)]
        assert local != 2
        await channel.send(StreamClose(stream=StreamId(2), error="late answer of the old stream"))
        await channel.send(StreamClose(stream=local, error=None))
        assert new.sent[2:] == [StreamClose(stream=StreamId(2), error=None)]
        new.inbox.put_nowait(
            ConnectionClosed(Close(reason=CloseReason.KILLED, message="killed by ann"))
        )
        assert (await running).reason is CloseReason.KILLED and not channel.link_lost

    asyncio.run(go())


def test_a_session_the_operator_ends_fails_the_requests_waiting_with_its_reason() -> None:
    """As when the operator cannot start the target's agent while the client asks for the
    pod's environment: the request fails at once with the Close's words, not after 30 s."""

    async def go() -> None:
        wire = FakeWire()
        channel = ClientChannel(session(wire))
        running = asyncio.create_task(channel.run())
        asked = asyncio.create_task(channel.request(lambda rid: EnvRequest(request=rid)))
        await async_wait_until(lambda: wire.sent, what="the request")
        why = "cannot serve the session: the agent for pod default/shop-1 did not answer"
        wire.inbox.put_nowait(ConnectionClosed(Close(reason=CloseReason.AGENT_FAILED, message=why)))
        await running
        with pytest.raises(SessionEnded) as ended:
            await asyncio.wait_for(asked, 5)
        assert str(ended.value) == f"session ended: {CloseReason.AGENT_FAILED.value}: {why}"
        with pytest.raises(SessionEnded):  # and so does one asked afterwards
            await asyncio.wait_for(channel.request(lambda rid: EnvRequest(request=rid)), 5)

    asyncio.run(go())


def test_keep_linked_resumes_after_failed_attempts_and_gives_up_on_410() -> None:
    async def go() -> None:
        first, second = FakeWire(), FakeWire()
        attempts: list[SessionId] = []
        told: list[str] = []

        @asynccontextmanager
        async def reconnect(sid: SessionId) -> AsyncIterator[ClientSession]:
            attempts.append(sid)
            if len(attempts) == 1:
                raise OperatorUnavailable("cannot reach the operator")
            if len(attempts) == 3:
                raise SessionGone(410, f"session {sid:016X} is gone")
            yield session(second)

        channel = ClientChannel(session(first))
        linked = asyncio.create_task(
            keep_linked(channel, reconnect=reconnect, ttl=6, tell=told.append)
        )
        first.inbox.put_nowait(ConnectionClosed())
        await async_wait_until(lambda: any("reconnected" in t for t in told), what="resumed")
        assert attempts == [SESSION, SESSION] and "attempt 1" in told[0] and "attempt 2" in told[1]
        assert channel.session.wire is cast(Any, second)
        await channel.send(
            Data(stream=StreamId(1), data=b"x")
        )  # goes on the new link (a stream it knows not)
        second.inbox.put_nowait(ConnectionClosed())
        gone = await linked
        assert gone.reason is CloseReason.STATE_LOST and "410" in gone.message
        assert (await channel.connect("db", 1, endpoint=lambda s: Endpoint())).ok is False

    asyncio.run(go())
