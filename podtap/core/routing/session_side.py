"""The session side of the router: responses and raw bytes coming from sessions."""

from __future__ import annotations

from collections.abc import Callable, Hashable, Iterable

import h11

from podtap.core.ids import RequestId
from podtap.core.routing.actions import (
    Action,
    SendToClient,
    ShutdownClient,
)
from podtap.core.routing.exchange import Exchange
from podtap.core.routing.state import SESSION_BAD, SESSION_GONE, Mode, RouterState
from podtap.core.routing.wire import raw_headers, strip_hop_by_hop


class SessionSide(RouterState):
    """Inputs from sessions: responses, failures, raw bytes after an upgrade."""

    def session_response_head(
        self,
        route: Hashable,
        request_id: RequestId,
        status: int,
        headers: Iterable[tuple[bytes, bytes]],
        reason: str | bytes = "",
    ) -> list[Action]:
        """The session's response head (or an interim 1xx) for ``request_id``."""
        ex = self._session_exchange(route, request_id)
        if ex is None:
            return []
        out: list[Action] = []
        items = raw_headers(headers)
        try:
            if status == 101:
                if not ex.upgrade_proposed:
                    raise h11.LocalProtocolError("101 without an upgrade request")
                self._to_client(ex, ex.informational(101, reason, items), out)
                self._source_done(ex)
            elif 100 <= status < 200:
                if ex.conn.their_http_version == b"1.1" and not (
                    status == 100 and ex.continue_sent
                ):
                    self._to_client(ex, ex.informational(status, reason, items), out)
            else:
                if ex.conn.our_state is not h11.SEND_RESPONSE:
                    raise h11.LocalProtocolError("a second response head")
                items = self._closing(ex, strip_hop_by_hop(items))
                self._to_client(ex, ex.response(status, reason, items), out)
                if ex.switched:  # 2xx to CONNECT
                    self._source_done(ex)
        except h11.LocalProtocolError:
            self._fail(ex, SESSION_BAD, out)
        self._flush(out)
        return out

    def session_response_body(
        self, route: Hashable, request_id: RequestId, data: bytes
    ) -> list[Action]:
        ex = self._session_exchange(route, request_id)
        if ex is None or not data:
            return []
        out: list[Action] = []
        if ex.conn.our_state is h11.SEND_RESPONSE:
            self._fail(ex, SESSION_BAD, out)  # body before head
        elif not ex.bodyless:
            try:
                self._to_client(ex, ex.body(bytes(data)), out)
            except h11.LocalProtocolError:  # more than Content-Length
                self._fail(ex, SESSION_BAD, out)
        self._flush(out)
        return out

    def session_response_end(
        self,
        route: Hashable,
        request_id: RequestId,
        trailers: Iterable[tuple[bytes, bytes]] = (),
    ) -> list[Action]:
        ex = self._session_exchange(route, request_id)
        if ex is None:
            return []
        out: list[Action] = []
        if ex.conn.our_state is h11.SEND_RESPONSE:
            self._fail(ex, SESSION_BAD, out)
        else:
            try:
                self._to_client(ex, ex.end(raw_headers(trailers)), out)
                self._source_done(ex)
            except h11.LocalProtocolError:  # less than Content-Length
                self._fail(ex, SESSION_BAD, out)
        self._flush(out)
        return out

    def session_reset(self, route: Hashable, request_id: RequestId) -> list[Action]:
        """The session failed this one exchange (e.g. its local app refused)."""
        if self._mode is Mode.SESSION_RAW:
            hit = route == self._raw_route and request_id == self._raw_request
            return self._close_session_raw() if hit else []
        return self._lose(lambda ex: ex.route == route and ex.request_id == request_id)

    def session_gone(self, route: Hashable) -> list[Action]:
        """The session behind ``route`` ended: its unanswered requests get 502 (or the
        client connection closes if their response had begun)."""
        if self._mode is Mode.SESSION_RAW:
            return self._close_session_raw() if route == self._raw_route else []
        return self._lose(lambda ex: ex.route == route)

    def session_raw(self, route: Hashable, data: bytes) -> list[Action]:
        """Bytes from the session after it upgraded the connection (sent its 101)."""
        if not data:
            return []
        if self._mode is Mode.SESSION_RAW:
            return [SendToClient(bytes(data))] if route == self._raw_route else []
        ex = self._blocker
        out: list[Action] = []
        if self._mode is Mode.HTTP and ex is not None and ex.route == route and ex.switched:
            self._to_client(ex, bytes(data), out)
        return out

    def session_raw_end(self, route: Hashable) -> list[Action]:
        """The session half-closed the upgraded connection."""
        out: list[Action] = []
        if self._mode is Mode.SESSION_RAW:
            if route == self._raw_route:
                self._raw_peer_eof = True
                out.append(ShutdownClient())
                self._maybe_close_raw(out)
            return out
        ex = self._blocker
        if ex is not None and ex.route == route and ex.switched:
            ex.peer_raw_eof = True
        return out

    def _session_exchange(self, route: Hashable, request_id: RequestId) -> Exchange | None:
        if self._mode is not Mode.HTTP and self._mode is not Mode.DRAIN_TO_RAW:
            return None
        ex = self._live.get(request_id)
        if ex is None or ex.route != route or ex.source_done:
            return None
        return ex

    def _lose(self, which: Callable[[Exchange], bool]) -> list[Action]:
        out: list[Action] = []
        if self._mode is not Mode.HTTP and self._mode is not Mode.DRAIN_TO_RAW:
            return out
        for ex in [ex for ex in self._live.values() if which(ex)]:
            del self._live[ex.request_id]
            if not ex.request_done:
                ex.sink = False
            if not ex.source_done:
                self._fail(ex, SESSION_GONE, out)
        blocker = self._blocker
        if (
            blocker is not None
            and blocker.route is not None
            and blocker.switched
            and which(blocker)
        ):
            blocker.fatal = True  # its 101 is queued: close when its turn comes
        self._flush(out)
        return out
