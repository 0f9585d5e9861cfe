"""One session's side of one filtered connection: a stolen request and its answer.

A request the router gives a session goes out here as frames on that session's stream
for this connection (opened at the first such request); the session's answers come back
here and are posted to the connection's loop as events. The bridge keeps the credit the
session is owed for answer bytes, which the loop grants once the client took them."""

from __future__ import annotations

from collections.abc import Callable

from podtap.agent.http_events import Event, SessionBytes, SessionEnded, SessionReply
from podtap.agent.session import HttpReply, SessionHandler
from podtap.core.ids import RequestId, StreamId
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

    async def close(self, reason: str | None = None) -> None:
        """End the stream (later requests of this session get a new one), unless the
        session ended it first."""
        if self.session.streams.get(self.stream) is not self:
            return
        await self.session.send_stream(StreamClose(self.stream, reason))
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
