"""Filtered steal: the asyncio shell around the sans-IO HTTP/1.1 router.

One `FilteredConnection` per intercepted client connection. The router decides; this
class reads sockets, writes bytes, opens the keep-alive connection to the real app, and
turns session-bound requests into protocol frames (and the sessions' answers back)."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable, Hashable
from typing import TYPE_CHECKING, cast

from podtap.agent.fast_relay import FastRelay, Outcome
from podtap.agent.http_stream_side import StreamSide
from podtap.agent.mirror import TappedReader
from podtap.core.ids import Port, RequestId, SessionId
from podtap.core.protocol import (
    BodyChunk,
    BodyEnd,
    Data,
    HttpRequestHead,
    HttpResponseHead,
    IncomingMode,
    NewConnection,
    StreamClose,
)
from podtap.core.routing import (
    Action,
    CloseApp,
    CloseClient,
    Http1FastPath,
    Http1Router,
    Http2Router,
    OpenApp,
    RequestHead,
    RouteTable,
    SendToApp,
    SendToClient,
    SessionAbort,
    SessionRaw,
    SessionRawEnd,
    SessionRequestBody,
    SessionRequestEnd,
    SessionRequestHead,
    ShutdownApp,
    ShutdownClient,
    is_h2_preface,
)
from podtap.net.tasks import TaskSet

if TYPE_CHECKING:
    from podtap.agent.incoming import IncomingTraffic
    from podtap.core.subscriptions import PortPlan

log = logging.getLogger(__name__)
SESSION_REPLIES = (HttpResponseHead, BodyChunk, BodyEnd)
READ_SIZE = 64 * 1024


class FilteredConnection:
    def __init__(
        self,
        incoming: IncomingTraffic,
        plan: PortPlan,
        reader: TappedReader,
        writer: asyncio.StreamWriter,
        *,
        peer: tuple[str, int],
        local: tuple[str, int],
    ) -> None:
        self.incoming = incoming
        self.table = RouteTable()
        for sub in plan.filtered:
            assert sub.compiled is not None
            self.table.add(sub.session, sub.compiled)
        self._stats = incoming.stats
        self.router: Http1Router | Http2Router = Http1Router(route=self._route, client_addr=peer[0])
        self.peer, self.local = peer, local
        self._client_r, self._client_w = reader, writer
        # mirrors copy what is read: only an untapped reader may be bypassed (fast path)
        self._untapped = reader.untapped
        self._app_w: asyncio.StreamWriter | None = None
        self._fast: FastRelay | None = None  # while the fast path has the connection
        self._app_pending: list[bytes] | None = None  # writes waiting for OpenApp
        self._app_loop: asyncio.Task[None] | None = None
        self.sides: dict[SessionId, StreamSide] = {}
        self._changed = asyncio.Event()
        self._tasks = TaskSet()
        self.done = asyncio.Event()

    async def run(self) -> None:
        self._tasks.spawn(self._client_loop(), name=f"http {self.peer} client")
        self._tasks.spawn(self._credit_loop(), name=f"http {self.peer} credit")
        try:
            await self.done.wait()
        finally:
            await self._close()

    async def _until(self, ready: Callable[[], bool]) -> None:
        while not ready() and not self.done.is_set():
            self._changed.clear()
            await self._changed.wait()

    def _route(self, head: RequestHead) -> Hashable | None:
        """Who gets a request (the router asks once per request); counted for metrics."""
        route = self.table(head)
        self._stats["requests_passed" if route is None else "requests_routed"] += 1
        return route

    async def _sniff(self) -> bytes:
        """Read until the first bytes tell HTTP/2 (prior knowledge, gRPC) from HTTP/1."""
        first = b""
        while (verdict := is_h2_preface(first)) is None:
            chunk = await self._client_r.read(READ_SIZE)
            if not chunk:
                break
            first += chunk
        if verdict:
            self.router = Http2Router(route=self._route, client_addr=self.peer[0])
        return first

    async def _client_loop(self) -> None:
        """Plain unmatched requests take the fast path; the router takes over where one
        needs it, and gives the connection back when it is at rest again."""
        try:
            data = await self._sniff()
        except (ConnectionError, OSError):
            data = b""
        while not self.done.is_set():
            if data and self._may_go_fast(data):
                backlog = await self._fast_path(data)
                if backlog is None:
                    return
                self.router = Http1Router(route=self._route, client_addr=self.peer[0])
                data = backlog
            more = await self._route_requests(data)
            if more is None:
                return
            data = more

    def _may_go_fast(self, data: bytes) -> bool:
        """No mirror copies this connection's bytes, the router is HTTP/1 with nothing in
        flight, and ``data`` emptied the client's reader (a full read may have left bytes in
        it, which the fast path would not see)."""
        router = self.router
        return (
            self._untapped is not None
            and isinstance(router, Http1Router)
            and router.at_rest()
            and len(data) < READ_SIZE
        )

    async def _route_requests(self, first: bytes) -> bytes | None:
        """Feed the router until the connection ends (``None``) or, after it routed some
        requests, it is at rest when new bytes come: those are returned for the fast path."""
        router = self.router
        if first:
            await self.perform(router.client_data(first))
        while not self.done.is_set():
            await self._until(lambda: not router.wants_client_pause())
            for side in list(self.sides.values()):  # their windows wake us, not perform()
                await side.session.wait_writable(side.stream)
            try:
                data = await self._client_r.read(READ_SIZE)
            except (ConnectionError, OSError):
                await self.perform(router.client_abort())
                return None
            if (
                data
                and isinstance(router, Http1Router)
                and router.requests_started
                and self._may_go_fast(data)
            ):
                self._close_app()
                return data
            await self.perform(router.client_data(data) if data else router.client_eof())
            if not data:
                return None
            with contextlib.suppress(ConnectionError, OSError):
                await self._client_w.drain()
        return None

    async def _fast_path(self, first: bytes) -> bytes | None:
        """Relay plain unmatched requests to the app (``Http1FastPath``) until one needs the
        router; returns the client bytes the router starts with (they are also back in the
        client's StreamReader), ``None`` when the connection ended here."""
        from podtap.agent.incoming import app_socket

        stream = self._untapped
        assert stream is not None  # _may_go_fast() checked it
        client = cast(asyncio.Transport, self._client_w.transport)  # a TCP transport
        client.pause_reading()  # until the relay reads it: no byte may stay in `stream`
        try:
            sock = await app_socket(*self.local)
        except (OSError, TimeoutError) as exc:
            log.info("cannot reach the app at %s:%d: %s", *self.local, exc)
            client.resume_reading()
            return first  # the router tries again, and answers 502
        fast = Http1FastPath(route=self.table, client_addr=self.peer[0])
        relay = self._fast = FastRelay(fast, client=client, client_reader=stream, stats=self._stats)
        client.resume_reading()
        outcome = await relay.run(first=first, app=sock)
        self._fast = None
        if outcome is Outcome.ENDED:
            self.done.set()
            return None
        return b""

    async def drain(self) -> None:
        """Finish what was read, then close (the agent is unhooking the port)."""
        if self._fast is not None:
            self._fast.drain()
        else:
            await self.perform(self.router.drain())

    async def _run_app(self, reader: asyncio.StreamReader) -> None:
        router = self.router
        while True:
            await self._until(lambda: not router.wants_app_pause())
            try:
                data = await reader.read(READ_SIZE)
            except (ConnectionError, OSError):
                data = b""
            await self.perform(router.app_data(data) if data else router.app_eof())
            if not data:
                return
            with contextlib.suppress(ConnectionError, OSError):
                await self._client_w.drain()

    async def _open_app(self) -> None:
        from podtap.agent.incoming import connect_app

        try:
            reader, writer = await connect_app(*self.local)
        except (OSError, TimeoutError) as exc:
            log.info("cannot reach the app at %s:%d: %s", *self.local, exc)
            self._app_pending = None
            await self.perform(self.router.app_eof())
            return
        pending, self._app_pending = self._app_pending or [], None
        self._app_w = writer
        for data in pending:
            writer.write(data)
        self._app_loop = self._tasks.spawn(self._run_app(reader), name=f"http {self.peer} app")

    async def _credit_loop(self) -> None:
        """Give sessions credit back for response bytes once the client has taken them."""
        while not self.done.is_set():
            await self._until(
                lambda: any(
                    s.credit and not self.router.wants_session_pause(s.session.session)
                    for s in self.sides.values()
                )
            )
            with contextlib.suppress(ConnectionError, OSError):
                await self._client_w.drain()
            for side in list(self.sides.values()):
                if side.credit and not self.router.wants_session_pause(side.session.session):
                    credit, side.credit = side.credit, 0
                    await side.session.consumed(side.stream, credit)

    async def _side(self, route: object) -> StreamSide | None:
        sid = route if isinstance(route, int) else None
        session = self.incoming.session(SessionId(sid)) if sid is not None else None
        if session is None or session.closed:
            return None
        side = self.sides.get(session.session)
        if side is None:
            stream = session.stream_ids.next()
            side = StreamSide(self, session, stream)
            session.open_stream(stream, side)
            self.sides[session.session] = side
            await session.send(
                NewConnection(
                    stream,
                    Port(self.local[1]),
                    self.peer[0],
                    Port(self.peer[1]),
                    self.local[0],
                    Port(self.local[1]),
                    IncomingMode.STEAL,
                )
            )
        return side

    def forget(self, session: SessionId) -> None:
        self.sides.pop(session, None)
        self.table.remove(session)

    def stop_routing(self, session: SessionId) -> None:
        """Later requests of this connection no longer go to `session` (it unsubscribed);
        exchanges already with it finish normally."""
        self.table.remove(session)

    async def perform(self, actions: list[Action]) -> None:
        for action in actions:
            await self._do(action)
        for side in list(self.sides.values()):
            if (
                side.aborted is not None
                and side.session.session not in self.router.session_routes()
            ):
                await self._close_side(side, side.aborted)
        self._changed.set()
        if self.router.closed:
            self.done.set()

    async def _do(self, action: Action) -> None:
        if isinstance(action, SendToClient):
            self._client_w.write(action.data)
        elif isinstance(action, SendToApp):
            if self._app_w is not None:
                self._app_w.write(action.data)
            elif self._app_pending is not None:
                self._app_pending.append(action.data)
        elif isinstance(action, OpenApp):
            self._app_pending = []
            self._tasks.spawn(self._open_app(), name=f"http {self.peer} connect app")
        elif isinstance(action, CloseApp):
            self._close_app()
        elif isinstance(action, ShutdownApp):
            if self._app_w is not None:
                half_close(self._app_w)
        elif isinstance(action, ShutdownClient):
            half_close(self._client_w)
        elif isinstance(action, CloseClient):
            self.done.set()
        elif isinstance(
            action,
            SessionRequestHead
            | SessionRequestBody
            | SessionRequestEnd
            | SessionAbort
            | SessionRaw
            | SessionRawEnd,
        ):
            await self._to_session(action)

    async def _to_session(
        self,
        action: SessionRequestHead
        | SessionRequestBody
        | SessionRequestEnd
        | SessionAbort
        | SessionRaw
        | SessionRawEnd,
    ) -> None:
        side = await self._side(action.route)
        if side is None:
            self._tasks.spawn(
                self.perform(self.router.session_gone(action.route)), name="session gone"
            )
            return
        s, stream = side.session, side.stream
        if isinstance(action, SessionRequestHead):
            head = action.head
            await s.send(
                HttpRequestHead(
                    stream,
                    action.request_id,
                    head.method,
                    head.target,
                    head.http_version,
                    head.headers,
                )
            )
        elif isinstance(action, SessionRequestBody):
            await s.send_stream(BodyChunk(stream, action.request_id, action.data))
        elif isinstance(action, SessionRequestEnd):
            await s.send_stream(BodyEnd(stream, action.request_id, action.trailers))
        elif isinstance(action, SessionRaw):
            await s.send_stream(Data(stream, action.data))
        elif isinstance(action, SessionRawEnd):
            await s.send_stream(Data(stream, b""))
        elif action.route in self.router.session_routes():
            # SessionAbort while other exchanges of this session (HTTP/2 streams) still use
            # the stream: closing it now would orphan them; the router ignores the rest of
            # the aborted exchange, and perform() closes the stream once they are done.
            side.aborted = action.request_id
        else:  # SessionAbort: this stream is done; later requests get a new one
            await self._close_side(side, action.request_id)

    async def _close_side(self, side: StreamSide, request_id: RequestId) -> None:
        s, stream = side.session, side.stream
        if self.sides.get(s.session) is not side:
            return  # already closed (perform() runs from several tasks)
        del self.sides[s.session]
        await s.send_stream(StreamClose(stream, f"request {request_id} aborted"))
        s.forget_stream(stream)

    def _close_app(self) -> None:
        if self._app_loop is not None:
            self._app_loop.cancel()
            self._app_loop = None
        if self._app_w is not None:
            self._app_w.close()
            self._app_w = None
        self._app_pending = None

    async def _close(self) -> None:
        with contextlib.suppress(ConnectionError, OSError, TimeoutError):
            await asyncio.wait_for(self._client_w.drain(), 5)
        self._client_w.close()
        self._close_app()
        for side in list(self.sides.values()):
            if not side.session.closed:
                await side.session.send_stream(StreamClose(side.stream))
                side.session.forget_stream(side.stream)
        self.sides.clear()
        self._tasks.cancel_all()
        await self._tasks.close()


def half_close(writer: asyncio.StreamWriter) -> None:
    """Send FIN if the transport can still write. A peer that already reset its side
    closed our transport, and uvloop raises on ``write_eof`` then; that must not end the
    task that serves the other side of the connection."""
    if writer.transport.is_closing() or not writer.can_write_eof():
        return
    with contextlib.suppress(OSError, RuntimeError):
        writer.write_eof()


async def serve_filtered(
    incoming: IncomingTraffic,
    plan: PortPlan,
    reader: TappedReader,
    writer: asyncio.StreamWriter,
    *,
    peer: tuple[str, int],
    local: tuple[str, int],
) -> None:
    conn = FilteredConnection(incoming, plan, reader, writer, peer=peer, local=local)
    active = incoming.filtered.setdefault(local[1], set())
    active.add(conn)
    try:
        await conn.run()
    finally:
        active.discard(conn)
