"""The session side of the router: responses (head, body, trailers) and failures coming
from sessions for the streams routed to them."""

from __future__ import annotations

from collections.abc import Hashable, Iterable

from podtap.core.ids import RequestId
from podtap.core.routing.actions import Action
from podtap.core.routing.h2_fields import clean_fields, content_length, has_field, response_fields
from podtap.core.routing.h2_state import H2RouterState
from podtap.core.routing.h2_stream import INTERNAL_ERROR, H2Stream
from podtap.core.routing.state import SESSION_BAD, SESSION_GONE


class H2SessionSide(H2RouterState):
    """Inputs from sessions: responses and failures of session-bound streams."""

    def session_response_head(
        self,
        route: Hashable,
        request_id: RequestId,
        status: int,
        headers: Iterable[tuple[bytes, bytes]],
        reason: str | bytes = "",
    ) -> list[Action]:
        """The session's response head (or an interim 1xx) for ``request_id``. The reason
        phrase does not exist in HTTP/2. A head carrying ``grpc-status`` is held until
        the next event for the stream, so that head plus end leave as one HEADERS frame
        with END_STREAM (gRPC "trailers-only")."""
        st = self._session_stream(route, request_id)
        out: list[Action] = []
        if st is None:
            return out
        if st.head_sent or not 100 <= status <= 999 or status == 101:
            self._fail(st, SESSION_BAD, out)
        elif status < 200:
            self._client.send_headers(st.sid, response_fields(status, headers))
        else:
            fields = response_fields(status, headers)
            st.head_sent = True
            st.bodyless = st.bodyless or status in (204, 304)
            st.length = None if st.bodyless else content_length(fields)
            if has_field(fields, b"grpc-status"):
                st.head_held = fields
            else:
                self._client.send_headers(st.sid, fields)
        self._sync(out)
        return out

    def session_response_body(
        self, route: Hashable, request_id: RequestId, data: bytes
    ) -> list[Action]:
        """Part of the response body (sent as the client's windows allow)."""
        st = self._session_stream(route, request_id)
        out: list[Action] = []
        if st is None or not data:
            return out
        if not st.head_sent:
            self._fail(st, SESSION_BAD, out)
        elif not st.bodyless:
            st.received += len(data)
            if st.length is not None and st.received > st.length:
                self._reset(st, INTERNAL_ERROR, out, abort_session=False)
            else:
                self._release_head(st, end=False)
                st.to_client.push(bytes(data))
                self._flush_to_client(st, out)
        self._sync(out)
        return out

    def session_response_end(
        self,
        route: Hashable,
        request_id: RequestId,
        trailers: Iterable[tuple[bytes, bytes]] = (),
    ) -> list[Action]:
        """End of the response, with trailers (e.g. ``grpc-status``) or none."""
        st = self._session_stream(route, request_id)
        out: list[Action] = []
        if st is None:
            return out
        if not st.head_sent:
            self._fail(st, SESSION_BAD, out)
        elif st.length is not None and st.received < st.length:
            self._reset(st, INTERNAL_ERROR, out, abort_session=False)
        else:
            st.source_done = True
            fields = clean_fields(trailers)
            if st.head_held is not None and not fields:
                self._release_head(st, end=True)
                st.to_client.finish()
                st.to_client.ended = True
                self._settle(st, out)
            else:
                self._release_head(st, end=False)
                st.to_client.finish(fields)
                self._flush_to_client(st, out)
        self._sync(out)
        return out

    def session_reset(self, route: Hashable, request_id: RequestId) -> list[Action]:
        """The session failed this stream: 502 if its head was not sent, else RST_STREAM."""
        st = self._session_stream(route, request_id)
        out: list[Action] = []
        if st is not None:
            self._fail(st, SESSION_GONE, out)
            self._sync(out)
        return out

    def session_gone(self, route: Hashable) -> list[Action]:
        """The session behind ``route`` ended: its unanswered streams get 502 (or
        RST_STREAM if their response had begun); complete responses are still delivered."""
        out: list[Action] = []
        if route is None:
            return out
        for st in [st for st in self._streams.values() if st.route == route]:
            if not st.source_done:
                self._fail(st, SESSION_GONE, out)
            else:
                self._stop_request(st)
                self._settle(st, out)
        self._sync(out)
        return out

    def _session_stream(self, route: Hashable, request_id: RequestId) -> H2Stream | None:
        st = self._by_request.get(request_id)
        if st is None or st.route != route or st.source_done or self._closed:
            return None
        return st

    def _release_head(self, st: H2Stream, *, end: bool) -> None:
        if st.head_held is not None:
            self._client.send_headers(st.sid, st.head_held, end=end)
            st.head_held = None
