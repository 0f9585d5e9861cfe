"""Reading the client: requests parsed with h11, routed, their bodies streamed on."""

from __future__ import annotations

import h11

from podtap.core.ids import RequestId
from podtap.core.routing.actions import (
    Action,
    SessionAbort,
    SessionRequestBody,
    SessionRequestEnd,
    SessionRequestHead,
)
from podtap.core.routing.exchange import MIGHT_SWITCH, Exchange
from podtap.core.routing.matcher import RequestHead
from podtap.core.routing.state import Mode, RouterState
from podtap.core.routing.wire import raw_headers, sniff_request_line


class ClientSide(RouterState):
    """Parsing the client's bytes into routed requests (driven by ``_pump``)."""

    def _may_start_request(self) -> bool:
        return (
            self._blocker is None
            and not self._no_more_requests
            and len(self._order) < self._max_pipeline
        )

    def _pump(self, out: list[Action]) -> None:
        while self._mode is Mode.HTTP:
            reader = self._reader
            if reader is None:
                if not self._may_start_request():
                    return
                if not self._backlog:
                    if self._client_eof:
                        self._no_more_requests = True
                        self._maybe_finish(out)
                    return
                reader = h11.Connection(h11.SERVER, max_incomplete_event_size=self._max_head)
                self._reader = reader
                self._head_raw = bytearray()
                self._line_ok = self._fed = self._eof_fed = False
            current = self._current
            if current is not None and current.waiting_app:
                return
            if self._backlog and not self._feed(reader, out):
                return
            if self._client_eof and not self._eof_fed:
                reader.receive_data(b"")
                self._eof_fed = True
            try:
                event = reader.next_event()
            except h11.RemoteProtocolError:
                self._client_error(out)
                return
            if isinstance(event, h11.Request):
                self._on_request(reader, event, out)
            elif isinstance(event, h11.Data) and current is not None:
                self._forward_body(current, bytes(event.data), out)
            elif isinstance(event, h11.EndOfMessage) and current is not None:
                self._on_request_end(reader, current, event, out)
            elif isinstance(event, h11.ConnectionClosed):
                self._drop_reader()
                self._no_more_requests = True
                self._maybe_finish(out)
                return
            else:  # NEED_DATA, PAUSED
                return

    def _feed(self, reader: h11.Connection, out: list[Action]) -> bool:
        data = bytes(self._backlog)
        self._backlog.clear()
        if self._head_raw is not None:
            self._head_raw += data
            if not self._line_ok:
                verdict = sniff_request_line(self._head_raw)
                if verdict is False:
                    self._not_http(out)
                    return False
                self._line_ok = verdict is True
            if not self._fed:  # RFC 9112 2.2: ignore empty lines before a request
                data = data.lstrip(b"\r\n")
                self._fed = bool(data)
        if data:
            reader.receive_data(data)
        return True

    def _on_request(self, reader: h11.Connection, event: h11.Request, out: list[Action]) -> None:
        if event.http_version not in (b"1.0", b"1.1"):
            self._not_http(out)
            return
        head = RequestHead(
            method=event.method.decode("ascii"),
            target=event.target.decode("utf-8", "surrogateescape"),
            headers=tuple(raw_headers(event.headers.raw_items())),
            http_version=event.http_version.decode("ascii"),
        )
        self._head_raw = None
        route = self._route(head)
        rid = RequestId(self._next_id)
        self._next_id += 1
        ex = Exchange(request_id=rid, route=route, conn=reader, request=event, head=head)
        self._order.append(ex)
        self._current = ex
        if route is None:
            if self._up.exchange is not None:
                ex.waiting_app = True
                self._waiter = ex
            else:
                self._up.start(ex, out)
            return
        self._live[rid] = ex
        out.append(SessionRequestHead(route, rid, head))
        if reader.they_are_waiting_for_100_continue:
            ex.continue_sent = True
            self._to_client(ex, ex.informational(100, b"", []), out)

    def _forward_body(self, ex: Exchange, data: bytes, out: list[Action]) -> None:
        if not data or not ex.sink:
            return
        if ex.route is None:
            self._up.body(data, out)
        else:
            out.append(SessionRequestBody(ex.route, ex.request_id, data))

    def _on_request_end(
        self, reader: h11.Connection, ex: Exchange, event: h11.EndOfMessage, out: list[Action]
    ) -> None:
        ex.request_done = True
        self._current = None
        if ex.sink:
            trailers = raw_headers(event.headers.raw_items())
            if ex.route is None:
                self._up.end(trailers, out)
                if ex.app_done and self._up.exchange is ex:
                    self._release_app(out)
            else:
                out.append(SessionRequestEnd(ex.route, ex.request_id, tuple(trailers)))
        self._forget(ex)
        state = reader.their_state
        self._drop_reader()
        if state is h11.DONE or state is MIGHT_SWITCH:
            self._backlog[:0] = reader.trailing_data[0]
            if state is MIGHT_SWITCH:
                self._blocker = ex  # what follows may be another protocol: wait for the answer
        else:  # MUST_CLOSE: HTTP/1.0 or "Connection: close", nothing more will be read
            self._no_more_requests = True
            self._backlog.clear()
            self._maybe_finish(out)

    def _client_error(self, out: list[Action]) -> None:
        ex = self._current
        if ex is None:  # the head did not parse: not HTTP/1.1 after all, fail open
            self._not_http(out)
            return
        # Broken body (or EOF inside it) of a routed request: abandon it, deliver the
        # answers owed for earlier requests, then close.
        self._current = None
        self._drop_reader()
        self._no_more_requests = True
        self._backlog.clear()
        ex.sink = False
        if ex.route is None:
            if self._up.exchange is ex:
                self._up.close(out)
            if self._waiter is ex:
                self._waiter = None
        elif self._live.pop(ex.request_id, None) is not None:
            out.append(SessionAbort(ex.route, ex.request_id))
        ex.source_done = True
        ex.fatal = True
        self._flush(out)

    def _not_http(self, out: list[Action]) -> None:
        self._backlog[:0] = self._head_raw or b""
        self._drop_reader()
        self._mode = Mode.DRAIN_TO_RAW
        self._maybe_go_raw(out)
