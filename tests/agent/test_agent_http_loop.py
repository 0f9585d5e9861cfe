"""One filtered connection in this process: loopback sockets, a session with no operator.

The connection's loop is the only place that feeds the router and carries out its
actions, one event after the other, however many sources (client, app, session) are busy
at once. These tests watch that from outside: nothing here needs a cluster or a namespace
(a marked socket only needs root, which the agent tests have anyway)."""

from __future__ import annotations

import asyncio
import os
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field

from podtap.agent.http_events import SessionEnded, SessionReply
from podtap.agent.http_steal import FilteredConnection
from podtap.agent.mirror import TappedReader
from podtap.agent.session import SessionHandler
from podtap.agent.session_bridge import SessionBridge
from podtap.core.ids import Port, RequestId, SessionId, StreamId
from podtap.core.protocol import (
    BodyChunk,
    BodyEnd,
    HttpFilter,
    HttpRequestHead,
    HttpResponseHead,
    IncomingMode,
    NewConnection,
    Payload,
    StreamClose,
)
from podtap.core.routing import RequestHead, SessionRequestHead
from podtap.core.subscriptions import PortTable

ALICE = SessionId(7)
APP_ANSWER = b"HTTP/1.1 200 OK\r\nContent-Length: 3\r\n\r\napp"


class Alice:
    """A session whose client answers every request it is given, in several chunks,
    while it yields to every other task between frames."""

    def __init__(self) -> None:
        self.frames: list[Payload] = []
        self.handler = SessionHandler(ALICE, send=self._send, target_pid=os.getpid())
        self._answering: set[asyncio.Task[None]] = set()

    async def _send(self, message: Payload) -> None:
        self.frames.append(message)
        await asyncio.sleep(0)  # the wire yields: other sources run meanwhile
        if isinstance(message, HttpRequestHead):
            task = asyncio.get_running_loop().create_task(self._answer(message))
            self._answering.add(task)
            task.add_done_callback(self._answering.discard)

    async def _answer(self, request: HttpRequestHead) -> None:
        stream, rid = request.stream, request.request
        await self.handler.handle(
            HttpResponseHead(
                stream=stream, request=rid, status=200, reason="", headers=((b"x-by", b"alice"),)
            )
        )
        for piece in (b"al", b"ic", b"e"):
            await asyncio.sleep(0)
            await self.handler.handle(BodyChunk(stream=stream, request=rid, data=piece))
        await self.handler.handle(BodyEnd(stream=stream, request=rid))


@dataclass
class Depth:
    now: int = 0
    most: int = 0
    connections: list[FilteredConnection] = field(default_factory=list)


@asynccontextmanager
async def pod(alice: Alice, depth: Depth) -> AsyncIterator[int]:
    """The app on one port and the filtered connections' listener on another; yields
    the listener's port. Requests with ``x-user: alice`` are alice's."""

    async def app(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            while await reader.readuntil(b"\r\n\r\n"):
                writer.write(APP_ANSWER)
                await writer.drain()
        except (asyncio.IncompleteReadError, ConnectionError):
            pass  # the agent closed it
        finally:
            writer.close()

    app_server = await asyncio.start_server(app, "127.0.0.1", 0)
    app_port = app_server.sockets[0].getsockname()[1]
    table = PortTable()
    table.subscribe(ALICE, Port(app_port), IncomingMode.STEAL, HttpFilter(header="x-user: alice"))
    plan = table.plan(Port(app_port))

    async def front(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        conn = FilteredConnection(
            plan,
            TappedReader(reader, None),
            writer,
            peer=writer.get_extra_info("peername")[:2],
            local=("127.0.0.1", app_port),
            sessions={ALICE: alice.handler}.get,
            stats={"requests_passed": 0, "requests_routed": 0},
        )
        depth.connections.append(conn)
        perform = conn._perform

        async def watched(actions: list[object]) -> None:
            depth.now += 1
            depth.most = max(depth.most, depth.now)
            try:
                await perform(actions)  # type: ignore[arg-type]
            finally:
                depth.now -= 1

        conn._perform = watched  # type: ignore[method-assign,assignment]
        await conn.run()

    front_server = await asyncio.start_server(front, "127.0.0.1", 0)
    try:
        yield front_server.sockets[0].getsockname()[1]
    finally:
        front_server.close()
        app_server.close()


def request(i: int, *, alice: bool) -> bytes:
    user = b"x-user: alice\r\n" if alice else b""
    return b"GET /r/%d HTTP/1.1\r\nHost: shop\r\n%s\r\n" % (i, user)


async def read_answers(reader: asyncio.StreamReader, count: int) -> list[bytes]:
    bodies = []
    for _ in range(count):
        head = await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), 10)
        if b"chunked" in head.lower():
            body = b""
            while (size := int((await reader.readline()).strip(), 16)) != 0:
                body += await reader.readexactly(size)
                await reader.readline()
            await reader.readline()
        else:
            length = int(head.lower().split(b"content-length: ")[1].split(b"\r\n")[0])
            body = await reader.readexactly(length)
        bodies.append(body)
    return bodies


def test_one_loop_performs_while_client_app_and_session_all_feed_it() -> None:
    """Pipelined requests, every other one alice's: the answers come back in order, and
    no action dispatch ever started inside another."""

    async def go() -> None:
        alice, depth = Alice(), Depth()
        async with pod(alice, depth) as port:
            reader, writer = await asyncio.open_connection("127.0.0.1", port)
            writer.write(b"".join(request(i, alice=i % 2 == 0) for i in range(12)))
            answers = await read_answers(reader, 12)
            writer.close()
        assert answers == [b"alice" if i % 2 == 0 else b"app" for i in range(12)]
        assert depth.most == 1
        heads = [f for f in alice.frames if isinstance(f, HttpRequestHead)]
        assert [h.path for h in heads] == [f"/r/{i}" for i in range(0, 12, 2)]
        (new,) = [f for f in alice.frames if isinstance(f, NewConnection)]
        assert new.mode is IncomingMode.STEAL

    asyncio.run(go())


def test_a_bridge_turns_the_sessions_answers_into_events_in_order() -> None:
    async def go() -> None:
        alice = Alice()
        posted: list[object] = []
        bridge = await SessionBridge.open(
            alice.handler, peer=("10.0.0.9", 4444), local=("10.0.0.1", 80), post=posted.append
        )
        stream = bridge.stream
        await bridge.send(
            SessionRequestHead(ALICE, RequestId(1), RequestHead("GET", "/", ((b"host", b"shop"),)))
        )
        head = HttpResponseHead(
            stream=stream, request=RequestId(1), status=200, reason="", headers=()
        )
        chunk = BodyChunk(stream=stream, request=RequestId(1), data=b"hi")
        await alice.handler.handle(head)
        await alice.handler.handle(chunk)
        await alice.handler.handle(StreamClose(stream=stream))
        await alice.handler.handle(
            BodyEnd(stream=stream, request=RequestId(1))
        )  # after its end: dropped
        await bridge.close()  # the session ended the stream: nothing more is sent
        assert posted == [
            SessionReply(session=ALICE, message=head),
            SessionReply(session=ALICE, message=chunk),
            SessionEnded(session=ALICE, stream=stream),
        ]
        assert [type(f) for f in alice.frames] == [NewConnection, HttpRequestHead]
        assert alice.frames[0] == NewConnection(
            stream=StreamId(stream),
            port=Port(80),
            remote_addr="10.0.0.9",
            remote_port=Port(4444),
            local_addr="10.0.0.1",
            local_port=Port(80),
            mode=IncomingMode.STEAL,
        )

    asyncio.run(go())
