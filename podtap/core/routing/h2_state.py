"""State shared by the parts of :class:`~podtap.core.routing.http2.Http2Router`: the
streams, both h2 connections, the queries, and the steps every side uses to move bodies
and to end, fail or forget a stream."""

from __future__ import annotations

from collections import deque
from collections.abc import Callable, Hashable

from podtap.core.ids import RequestId
from podtap.core.routing.actions import (
    Action,
    CloseApp,
    CloseClient,
    Route,
    SendToApp,
    SendToClient,
    SessionAbort,
)
from podtap.core.routing.h2_fields import error_response
from podtap.core.routing.h2_peer import H2Peer
from podtap.core.routing.h2_stream import CANCEL, INTERNAL_ERROR, NO_ERROR, STREAM_WINDOW, H2Stream
from podtap.core.routing.matcher import RequestHead


class H2RouterState:
    """Fields and shared steps of the router; the public API is on ``Http2Router``."""

    def __init__(
        self,
        *,
        route: Callable[[RequestHead], Route],
        client_addr: str,
        max_buffer: int = 1 << 20,
    ) -> None:
        self._route = route
        self._xff = client_addr.encode("utf-8")
        self._max_buffer = max_buffer
        self._window = max_buffer
        self._stream_window = min(max_buffer, STREAM_WINDOW)
        self._client = H2Peer(
            client_side=False, window=self._window, stream_window=self._stream_window
        )
        self._app: H2Peer | None = None
        self._streams: dict[int, H2Stream] = {}  # by client stream id
        self._by_request: dict[RequestId, H2Stream] = {}  # session-bound streams
        self._by_app: dict[int, H2Stream] = {}  # by stream id on the current app connection
        self._waiting: deque[H2Stream] = deque()  # app-bound, not yet opened on the app
        self._next_id = 1
        self._closed = False
        self._ending = False  # client EOF, client GOAWAY or drain: close once idle
        self._last_sid: int | None = None  # drain: streams above it are refused

    # ----------------------------------------------------------------- queries

    @property
    def closed(self) -> bool:
        """The router closed both connections: drop it."""
        return self._closed

    @property
    def buffered(self) -> int:
        """Body bytes the router holds (waiting for a peer's flow-control window)."""
        return sum(st.to_app.size + st.to_client.size for st in self._streams.values())

    def wants_client_pause(self) -> bool:
        """Stop reading the client while true (request bodies wait for the app)."""
        return sum(st.to_app.size for st in self._streams.values()) > self._max_buffer

    def wants_app_pause(self) -> bool:
        """Stop reading the app while true (its responses wait for the client's windows)."""
        held = sum(st.to_client.size for st in self._streams.values() if st.route is None)
        return held > self._max_buffer

    def wants_session_pause(self, route: Hashable) -> bool:
        """Stop reading (granting credit to) ``route`` while its responses wait for the
        client's windows."""
        held = sum(st.to_client.size for st in self._streams.values() if st.route == route)
        return held > self._max_buffer

    def session_routes(self) -> set[Hashable]:
        """Sessions that still owe or receive something on this connection."""
        return {st.route for st in self._by_request.values()}

    # ------------------------------------------------- defined by H2AppSide

    def _open_app_streams(self, out: list[Action]) -> None:
        """Open the waiting app-bound streams on the app connection (see ``H2AppSide``)."""
        raise NotImplementedError

    def _unbind_app(self, st: H2Stream, out: list[Action]) -> None:
        """``st`` no longer uses its app stream (see ``H2AppSide``)."""
        raise NotImplementedError

    # ----------------------------------------------------------- both sides

    def _flush_to_app(self, st: H2Stream, out: list[Action]) -> None:
        app = st.app
        if app is None or app is not self._app or st.gone:
            return
        self._client.ack(st.sid, app.flush(st.app_sid, st.to_app))
        if st.to_app.ended and st.source_done:
            self._unbind_app(st, out)
        self._settle(st, out)

    def _flush_to_client(self, st: H2Stream, out: list[Action]) -> None:
        if st.gone:
            return
        moved = self._client.flush(st.sid, st.to_client)
        if st.app is not None and st.app is self._app:
            st.app.ack(st.app_sid, moved)
            if st.source_done and (st.to_app.ended or st.discard):
                self._unbind_app(st, out)
        self._settle(st, out)

    def _stop_request(self, st: H2Stream) -> None:
        """Read and drop the rest of the request (its destination is gone or done)."""
        if not st.discard:
            st.discard = True
            self._client.ack(st.sid, st.to_app.drop())
            st.to_app.finish()

    def _fail(self, st: H2Stream, message: str, out: list[Action]) -> None:
        """No (more) response will come from the destination: 502 if no head went out,
        else RST_STREAM(INTERNAL_ERROR). The rest of the request is dropped."""
        st.source_done = True
        self._stop_request(st)
        self._unbind_app(st, out)
        if st.app_fields is not None:  # app-bound, never sent: it must not be sent now
            self._waiting.remove(st)
            st.app_fields = None
        if st.head_held is not None:  # the client saw nothing yet: it can have a 502
            st.head_held = None
            st.head_sent = False
        if st.head_sent:
            self._reset(st, INTERNAL_ERROR, out, abort_session=False)
            return
        fields, body = error_response(message, bodyless=st.bodyless)
        st.head_sent = True
        self._client.send_headers(st.sid, fields, end=not body)
        if body:
            st.to_client.push(body)
            st.to_client.finish()
            self._flush_to_client(st, out)
        else:
            st.to_client.finish()
            st.to_client.ended = True
            self._settle(st, out)

    def _reset(
        self, st: H2Stream, code: int, out: list[Action], *, abort_session: bool = True
    ) -> None:
        """RST_STREAM(code) to the client and forget the stream."""
        self._drop(st, code, out, abort_session=abort_session)

    def _drop(
        self,
        st: H2Stream,
        code: int,
        out: list[Action],
        *,
        reset_client: bool = True,
        abort_session: bool = True,
    ) -> None:
        """Abandon ``st``: RST_STREAM to the client (unless it reset it), RST_STREAM(CANCEL)
        to the app stream, or ``SessionAbort``; credit what was held back."""
        if st.gone:
            return
        if reset_client:
            self._client.reset(st.sid, code)
        if st.route is not None:
            if abort_session and self._session_waits(st):
                out.append(SessionAbort(st.route, st.request_id))
        elif st.app is not None and st.app is self._app:
            if self._by_app.get(st.app_sid) is st and st.app.is_open(st.app_sid):
                st.app.reset(st.app_sid, CANCEL)
            st.app.ack(st.app_sid, st.to_client.drop())
        self._client.ack(st.sid, st.to_app.drop())
        self._unbind_app(st, out)
        self._forget(st)

    def _settle(self, st: H2Stream, out: list[Action]) -> None:
        """Forget ``st`` once both directions are over (RST_STREAM(NO_ERROR) to the client
        if its request is still coming but nobody wants it: RFC 9113 §8.1)."""
        if st.gone or not st.to_client.ended:
            return
        if not st.req_done:
            if not st.discard:
                return  # the destination still reads the request
            self._client.reset(st.sid, NO_ERROR)
            self._drop(st, NO_ERROR, out, reset_client=False, abort_session=False)
            return
        if st.route is None and not st.discard and not st.to_app.ended:
            return  # the end of the request has not reached the app yet
        self._unbind_app(st, out)
        self._forget(st)

    def _forget(self, st: H2Stream) -> None:
        st.gone = True
        self._streams.pop(st.sid, None)
        if self._by_request.get(st.request_id) is st:
            del self._by_request[st.request_id]
        if st.app_fields is not None:
            self._waiting.remove(st)
            st.app_fields = None

    @staticmethod
    def _session_waits(st: H2Stream) -> bool:
        """The session still answers, or still reads the request body, of ``st``."""
        return not st.source_done or not (st.req_done or st.discard)

    @staticmethod
    def _targets(streams: dict[int, H2Stream], stream_id: int) -> list[H2Stream]:
        if stream_id == 0:
            return list(streams.values())
        st = streams.get(stream_id)
        return [st] if st is not None else []

    def _emit(self, out: list[Action]) -> None:
        """Turn the bytes h2 queued for either peer into ``SendTo*`` actions."""
        data = self._client.take()
        if data:
            out.append(SendToClient(data))
        if self._app is not None:
            data = self._app.take()
            if data:
                out.append(SendToApp(data))

    def _sync(self, out: list[Action]) -> None:
        """End of an input: write what h2 queued; close if the connection is finished."""
        if self._closed:
            return
        self._emit(out)
        if self._ending and not self._streams:
            self._shutdown(out)

    def _shutdown(self, out: list[Action]) -> None:
        """Close everything: abandon the streams left, CloseApp, CloseClient."""
        if self._closed:
            return
        for st in list(self._streams.values()):
            if st.route is not None and self._session_waits(st):
                out.append(SessionAbort(st.route, st.request_id))
            self._forget(st)
        if self._app is not None:
            self._app.close()
        self._emit(out)
        if self._app is not None:
            out.append(CloseApp())
            self._app = None
        out.append(CloseClient())
        self._closed = True
        self._by_app.clear()
        self._waiting.clear()
