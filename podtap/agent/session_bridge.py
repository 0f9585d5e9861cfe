"""One session's side of one filtered connection: a stolen request and its answer.

A request the router gives a session goes out here as frames on that session's stream
for this connection (opened at the first such request); the session's answers come back
here and are posted to the connection's loop as events. The bridge keeps the credit the
session is owed for answer bytes, which the loop grants once the client took them.
:class:`Bridges` holds one connection's bridges and decides when a stream ends."""

from __future__ import annotations

from collections.abc import Callable, Hashable, Iterator

from podtap.agent.http_events import Event, SessionBytes, SessionEnded, SessionGone, SessionReply
from podtap.agent.session import HttpReply, SessionHandler
from podtap.core.ids import RequestId, SessionId, StreamId
from podtap.core.protocol import (
    BodyChunk,
    BodyEnd,
    Data,
    HttpRequestHead,
    IncomingMode,
    StreamClose,
)
from podtap.core.routing import (
    SessionAbort,
    SessionRaw,
    SessionRawEnd,
    SessionRequestBody,
    SessionRequestEnd,
    SessionRequestHead,
)

SessionAction = (
    SessionRequestHead
    | SessionRequestBody
    | SessionRequestEnd
    | SessionAbort
    | SessionRaw
    | SessionRawEnd
)


class SessionBridge:
    """This connection as one session's stream (registered with the session as its
    :class:`~podtap.agent.session.HttpStreamEndpoint`)."""

    def __init__(
        self, session: SessionHandler, *, stream: StreamId, post: Callable[[Event], None]
    ) -> None:
        self.session, self.stream = session, stream
        self._post = post
        self.credit = 0  # answer bytes the client took and the session is owed credit for
        # an exchange was abandoned while others of this session (HTTP/2 streams) were
        # still live on the stream: close the stream once they are done
        self.aborted: RequestId | None = None

    @classmethod
    async def open(
        cls,
        session: SessionHandler,
        *,
        peer: tuple[str, int],
        local: tuple[str, int],
        post: Callable[[Event], None],
    ) -> SessionBridge:
        """A new stream of ``session`` for this connection, announced to it."""
        stream = session.stream_ids.next()
        bridge = cls(session, stream=stream, post=post)
        session.open_http_stream(stream, bridge)
        await session.offer(stream, peer=peer, local=local, mode=IncomingMode.STEAL)
        return bridge

    # -- towards the session (the connection's loop calls these) ------------------------
    async def send(self, action: SessionAction) -> None:
        """One router action for this session as its frame. (SessionAbort is the loop's
        decision: it closes the stream or waits, see :meth:`close`.)"""
        s, stream = self.session, self.stream
        if isinstance(action, SessionRequestHead):
            head = action.head
            await s.send(
                HttpRequestHead(
                    stream=stream,
                    request=action.request_id,
                    method=head.method,
                    path=head.target,
                    http_version=head.http_version,
                    headers=head.headers,
                )
            )
        elif isinstance(action, SessionRequestBody):
            await s.send_stream(
                BodyChunk(stream=stream, request=action.request_id, data=action.data)
            )
        elif isinstance(action, SessionRequestEnd):
            await s.send_stream(
                BodyEnd(stream=stream, request=action.request_id, trailers=action.trailers)
            )
        elif isinstance(action, SessionRaw):
            await s.send_stream(Data(stream=stream, data=action.data))
        elif isinstance(action, SessionRawEnd):
            await s.send_stream(Data(stream=stream, data=b""))

    async def close(self, reason: str | None = None) -> None:
        """End the stream (later requests of this session get a new one), unless the
        session ended it first."""
        if self.session.streams.get(self.stream) is not self:
            return
        await self.session.send_stream(StreamClose(stream=self.stream, error=reason))
        self.session.forget_stream(self.stream)

    async def grant(self) -> None:
        """Give the session the credit it is owed."""
        credit, self.credit = self.credit, 0
        await self.session.consumed(self.stream, credit)

    # -- from the session (its handler calls these) -----------------------------------
    async def on_reply(self, message: HttpReply) -> None:
        self._post(SessionReply(session=self.session.session, message=message))

    async def on_data(self, data: bytes) -> None:
        """Raw bytes after an upgrade the session accepted (empty: half-close)."""
        self._post(SessionBytes(session=self.session.session, stream=self.stream, data=data))

    async def on_close(self, error: str | None) -> None:
        self._post(SessionEnded(session=self.session.session, stream=self.stream))


class Bridges:
    """A filtered connection's bridges, one per session it routed to, opened at that
    session's first request. The connection's loop alone calls these."""

    def __init__(
        self,
        *,
        sessions: Callable[[SessionId], SessionHandler | None],
        peer: tuple[str, int],
        local: tuple[str, int],
        post: Callable[[Event], None],
    ) -> None:
        self._sessions = sessions
        self._peer, self._local = peer, local
        self._post = post
        self._open: dict[SessionId, SessionBridge] = {}

    def __iter__(self) -> Iterator[SessionBridge]:
        return iter(list(self._open.values()))

    def count(self, session: SessionId, *, stream: StreamId, size: int) -> None:
        """Answer bytes of ``session`` on ``stream``, owed back as credit once taken."""
        bridge = self._open.get(session)
        if bridge is not None and bridge.stream == stream:
            bridge.credit += size

    def ended(self, session: SessionId, *, stream: StreamId) -> None:
        """The session ended ``stream``: its next request opens a new one."""
        bridge = self._open.get(session)
        if bridge is not None and bridge.stream == stream:
            del self._open[session]

    async def send(self, action: SessionAction, *, live: set[Hashable]) -> None:
        """Carry out one router action for a session. ``live``: the routes that still
        have exchanges on this connection (the router's ``session_routes()``)."""
        bridge = await self._bridge(action.route)
        if bridge is None:  # after this event's actions, as the router's next input
            self._post(SessionGone(action.route))
        elif not isinstance(action, SessionAbort):
            await bridge.send(action)
        elif action.route in live:
            # SessionAbort while other exchanges of this session (HTTP/2 streams) still use
            # the stream: closing it now would orphan them; the router ignores the rest of
            # the aborted exchange, and sweep() closes the stream once they are done.
            bridge.aborted = action.request_id
        else:  # SessionAbort: this stream is done; later requests get a new one
            await self._close(bridge, reason=f"request {action.request_id} aborted")

    async def sweep(self, *, live: set[Hashable]) -> None:
        """Close the streams whose aborted exchange waited for the others to end."""
        for bridge in self:
            if bridge.aborted is not None and bridge.session.session not in live:
                await self._close(bridge, reason=f"request {bridge.aborted} aborted")

    def owed(self, *, paused: Callable[[SessionId], bool]) -> bool:
        return any(b.credit and not paused(b.session.session) for b in self._open.values())

    async def grant(self, *, paused: Callable[[SessionId], bool]) -> None:
        """The client took the answer bytes so far: credit to every session not paused."""
        for bridge in self:
            if bridge.credit and not paused(bridge.session.session):
                await bridge.grant()

    async def writable(self) -> None:
        """Until every session's stream has room (their windows wake us, not the loop)."""
        for bridge in self:
            await bridge.session.wait_writable(bridge.stream)

    async def close(self) -> None:
        """The connection is over: end the streams of the sessions still there."""
        for bridge in self:
            if not bridge.session.closed:
                await bridge.close()
        self._open.clear()

    async def _bridge(self, route: Hashable) -> SessionBridge | None:
        session = self._sessions(SessionId(route)) if isinstance(route, int) else None
        if session is None or session.closed:
            return None
        bridge = self._open.get(session.session)
        if bridge is None:
            bridge = await SessionBridge.open(
                session, peer=self._peer, local=self._local, post=self._post
            )
            self._open[session.session] = bridge
        return bridge

    async def _close(self, bridge: SessionBridge, *, reason: str) -> None:
        if self._open.get(bridge.session.session) is not bridge:
            return  # closed already
        del self._open[bridge.session.session]
        await bridge.close(reason)
