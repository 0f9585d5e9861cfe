"""The app side of the router: responses read from the upstream, relayed in order."""

from __future__ import annotations

import h11

from podtap.core.routing.actions import (
    Action,
    SendToClient,
    ShutdownClient,
)
from podtap.core.routing.exchange import Exchange
from podtap.core.routing.state import APP_FAILED, Mode, RouterState
from podtap.core.routing.wire import raw_headers


class AppSide(RouterState):
    """Inputs from the app connection (``app_data``, ``app_eof``) and their handling."""

    def app_data(self, data: bytes) -> list[Action]:
        """Bytes read from the app connection."""
        mode = self._mode
        if mode is Mode.RAW:
            return [SendToClient(bytes(data))] if data else []
        up = self._up
        if not data or not up.open or mode not in (Mode.HTTP, Mode.DRAIN_TO_RAW):
            return []
        out: list[Action] = []
        ex = up.exchange
        if ex is None:
            up.close(out)  # the app spoke out of turn (e.g. 408 before closing): drop it
        elif ex.switched:
            self._to_client(ex, bytes(data), out)  # new protocol, waiting for our turn
        else:
            up.feed(bytes(data))
            self._read_app(ex, out)
        self._flush(out)
        return out

    def app_eof(self) -> list[Action]:
        """The app connection ended (EOF, reset, or could not be opened)."""
        mode = self._mode
        out: list[Action] = []
        if mode is Mode.RAW:
            self._raw_peer_eof = True
            out.append(ShutdownClient())
            self._maybe_close_raw(out)
            return out
        up = self._up
        if not up.open or mode not in (Mode.HTTP, Mode.DRAIN_TO_RAW):
            return out
        ex = up.exchange
        if ex is None:
            up.close(out)
        elif ex.switched:
            ex.peer_raw_eof = True
        else:
            up.feed(b"")
            self._read_app(ex, out)  # a response delimited by EOF ends here
            if up.exchange is ex:
                self._app_failed(ex, out)
        self._flush(out)
        return out

    def _read_app(self, ex: Exchange, out: list[Action]) -> None:
        up = self._up
        while up.exchange is ex and not ex.switched:
            try:
                event = up.next_event()
                if event is h11.NEED_DATA or isinstance(event, h11.ConnectionClosed):
                    return
                if event is h11.PAUSED:  # bytes after a complete response: drop them
                    up.close(out)
                    ex.sink = ex.sink and ex.request_done
                    self._release_app(out)
                    return
                if isinstance(event, h11.Event):
                    self._on_app_event(ex, event, out)
            except h11.ProtocolError:
                self._app_failed(ex, out)
                return

    def _on_app_event(self, ex: Exchange, event: h11.Event, out: list[Action]) -> None:
        up = self._up
        if isinstance(event, h11.InformationalResponse):
            if event.status_code == 101:
                items = raw_headers(event.headers.raw_items())
                self._to_client(ex, ex.informational(101, event.reason, items), out)
            elif ex.conn.their_http_version == b"1.1":
                items = raw_headers(event.headers.raw_items())
                self._to_client(ex, ex.informational(event.status_code, event.reason, items), out)
        elif isinstance(event, h11.Response):
            items = self._closing(ex, raw_headers(event.headers.raw_items()))
            self._to_client(ex, ex.response(event.status_code, event.reason, items), out)
        elif isinstance(event, h11.Data):
            self._to_client(ex, ex.body(bytes(event.data)), out)
        elif isinstance(event, h11.EndOfMessage):
            self._to_client(ex, ex.end(raw_headers(event.headers.raw_items())), out)
            ex.app_done = ex.source_done = True
            if not up.keep_alive or up.leftover():  # bytes after the response: out of turn
                up.close(out)
                ex.sink = ex.sink and ex.request_done
                self._release_app(out)
            elif ex.request_done:
                self._release_app(out)
        if ex.switched:  # 101, or 2xx to CONNECT: the rest is the new protocol's
            ex.app_done = ex.source_done = True
            self._to_client(ex, up.leftover(), out)

    def _app_failed(self, ex: Exchange, out: list[Action]) -> None:
        self._up.close(out)
        if not ex.request_done:
            ex.sink = False
        if not ex.app_done:
            self._fail(ex, APP_FAILED, out)
        self._release_app(out)
