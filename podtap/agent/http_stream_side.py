"""One session's view of one filtered connection: the stream its requests travel on, and
its replies turned into router inputs."""

from __future__ import annotations

from typing import TYPE_CHECKING

from podtap.agent.session import SessionHandler
from podtap.core.ids import RequestId, StreamId
from podtap.core.protocol import BodyChunk, BodyEnd, HttpResponseHead, Payload
from podtap.core.routing import Http1Router

if TYPE_CHECKING:
    from podtap.agent.http_steal import FilteredConnection


class StreamSide:
    """This connection as one session's stream sees it (registered in session.streams)."""

    def __init__(self, conn: FilteredConnection, session: SessionHandler, stream: StreamId):
        self.conn, self.session, self.stream = conn, session, stream
        self.credit = 0
        # an exchange was abandoned while others of this session (HTTP/2 streams) were
        # still live on the stream: close the stream once they are done
        self.aborted: RequestId | None = None

    async def from_session(self, message: Payload) -> None:
        sid, router = self.session.session, self.conn.router
        if isinstance(message, HttpResponseHead):
            await self.conn.perform(
                router.session_response_head(
                    sid, message.request, message.status, message.headers, message.reason
                )
            )
        elif isinstance(message, BodyChunk):
            self.session.receiver.on_data(self.stream, len(message.data))
            self.credit += len(message.data)
            await self.conn.perform(
                router.session_response_body(sid, message.request, message.data)
            )
        elif isinstance(message, BodyEnd):
            await self.conn.perform(
                router.session_response_end(sid, message.request, message.trailers)
            )

    async def on_data(self, data: bytes) -> None:
        """Raw bytes after an upgrade the session accepted (empty: half-close)."""
        self.credit += len(data)
        sid = self.session.session
        router = self.conn.router
        if isinstance(router, Http1Router):  # HTTP/2 has no upgrades here
            await self.conn.perform(
                router.session_raw(sid, data) if data else router.session_raw_end(sid)
            )

    async def on_close(self, error: str | None) -> None:
        self.conn.forget(self.session.session)
        await self.conn.perform(self.conn.router.session_gone(self.session.session))
