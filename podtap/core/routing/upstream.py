"""The router's single keep-alive connection to the real app, one exchange at a time.

Requests go out as bytes we encode (method, target, version and headers as the client sent
them, plus ``X-Forwarded-For``); the body is forwarded as it arrives, re-chunked when the
client sent it chunked. Responses are parsed by an h11 client connection per exchange.
"""

from __future__ import annotations

import h11

from podtap.core.routing.actions import Action, CloseApp, OpenApp, SendToApp
from podtap.core.routing.exchange import Exchange
from podtap.core.routing.wire import (
    HeaderList,
    app_response_parser,
    encode_chunk,
    encode_last_chunk,
    encode_request_head,
    with_forwarded_for,
)

_AppEvent = h11.Event | type[h11.NEED_DATA] | type[h11.PAUSED]


class Upstream:
    __slots__ = ("_chunked", "_max_head", "_parser", "_xff", "exchange", "open")

    def __init__(self, *, forwarded_for: bytes, max_head: int) -> None:
        self._xff = forwarded_for
        self._max_head = max_head
        self._parser: h11.Connection | None = None
        self._chunked = False
        self.open = False  # OpenApp emitted and no CloseApp since
        self.exchange: Exchange | None = None  # the exchange using the connection

    def ensure_open(self, out: list[Action]) -> None:
        if not self.open:
            out.append(OpenApp())
            self.open = True

    def start(self, ex: Exchange, out: list[Action]) -> None:
        """Send the head of ``ex``'s request; the connection is ``ex``'s until released."""
        request = ex.request
        self.ensure_open(out)
        headers = with_forwarded_for(request.headers.raw_items(), self._xff)
        head = encode_request_head(request.method, request.target, request.http_version, headers)
        out.append(SendToApp(head))
        self._parser = app_response_parser(request, max_head=self._max_head)
        self._chunked = any(name == b"transfer-encoding" for name, _ in request.headers)
        self.exchange = ex

    def body(self, data: bytes, out: list[Action]) -> None:
        out.append(SendToApp(encode_chunk(data) if self._chunked else data))

    def end(self, trailers: HeaderList, out: list[Action]) -> None:
        if self._chunked:
            out.append(SendToApp(encode_last_chunk(tuple(trailers))))

    def feed(self, data: bytes) -> None:
        """Give the response parser bytes from the app (``b""``: the app closed)."""
        if self._parser is not None:
            self._parser.receive_data(data)

    def next_event(self) -> _AppEvent:
        """The next response event; raises ``h11.RemoteProtocolError`` on a bad response."""
        if self._parser is None:
            return h11.NEED_DATA
        return self._parser.next_event()

    def leftover(self) -> bytes:
        """Bytes the app sent after a 101 (or 2xx to CONNECT): the new protocol's."""
        return bytes(self._parser.trailing_data[0]) if self._parser is not None else b""

    @property
    def keep_alive(self) -> bool:
        """After a complete response: the connection can carry another request."""
        parser = self._parser
        return parser is not None and parser.our_state is parser.their_state is h11.DONE

    def close(self, out: list[Action]) -> None:
        if self.open:
            out.append(CloseApp())
        self.open = False
        self.exchange = None
        self._parser = None
