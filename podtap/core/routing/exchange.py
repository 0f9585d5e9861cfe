"""One request/response exchange on a client connection.

Its h11 server connection parsed the request and serialises the response, so h11 applies
HTTP/1.1 framing rules for this request (HEAD, 1.0 clients, keep-alive, upgrades).
"""

from __future__ import annotations

from collections.abc import Hashable
from http import HTTPStatus

import h11

from podtap.core.ids import RequestId
from podtap.core.routing.matcher import RequestHead
from podtap.core.routing.wire import HeaderList, will_chunk

MIGHT_SWITCH = h11.MIGHT_SWITCH_PROTOCOL  # type: ignore[attr-defined]  # not in h11.__all__
_COMPLETE = (h11.DONE, h11.MUST_CLOSE, h11.SWITCHED_PROTOCOL, h11.CLOSED)


def reason_for(status: int, reason: str | bytes) -> bytes:
    """The reason phrase to send: the given one, else the standard one for ``status``."""
    if reason:
        return reason.encode("latin-1", "replace") if isinstance(reason, str) else reason
    try:
        return HTTPStatus(status).phrase.encode("ascii")
    except ValueError:
        return b""


class Exchange:
    """State of one exchange; the router owns and mutates it."""

    __slots__ = (
        "app_done",
        "bodyless",
        "chunked",
        "conn",
        "continue_sent",
        "fatal",
        "head",
        "method",
        "peer_raw_eof",
        "queue",
        "queued",
        "request",
        "request_done",
        "request_id",
        "route",
        "sink",
        "source_done",
        "waiting_app",
    )

    def __init__(
        self,
        *,
        request_id: RequestId,
        route: Hashable | None,
        conn: h11.Connection,
        request: h11.Request,
        head: RequestHead,
    ) -> None:
        self.request_id = request_id
        self.route = route
        self.conn = conn
        self.request = request
        self.head = head
        self.method: bytes = request.method
        self.queue: list[bytes] = []  # client bytes held until earlier responses are done
        self.queued = 0  # total length of ``queue``
        self.request_done = False  # the client finished sending the request
        self.sink = True  # forward the rest of the request body to the route
        self.source_done = False  # no more response events are accepted for it
        self.fatal = False  # when its turn comes, close the client connection
        self.chunked = False  # its response goes to the client chunked (trailers allowed)
        self.bodyless = False  # its response has no body (HEAD, 204, 304)
        self.continue_sent = False  # we already sent "100 Continue" for it
        self.waiting_app = False  # routed to the app, waiting for the upstream to be free
        self.app_done = False  # the app's whole response has been received
        self.peer_raw_eof = False  # after a 101: the session/app ended before we switched

    @property
    def complete(self) -> bool:
        """Its response is fully serialised (or it ends the connection)."""
        return self.fatal or self.conn.our_state in _COMPLETE

    @property
    def switched(self) -> bool:
        return self.conn.our_state is h11.SWITCHED_PROTOCOL

    @property
    def upgrade_proposed(self) -> bool:
        return self.conn.their_state is MIGHT_SWITCH

    def informational(self, status: int, reason: str | bytes, headers: HeaderList) -> bytes:
        event = h11.InformationalResponse(
            status_code=status, headers=headers, reason=reason_for(status, reason)
        )
        return self.conn.send(event) or b""

    def response(self, status: int, reason: str | bytes, headers: HeaderList) -> bytes:
        self.chunked = will_chunk(
            method=self.method,
            status=status,
            headers=headers,
            client_version=self.conn.their_http_version or b"1.0",
        )
        self.bodyless = self.method == b"HEAD" or status in (204, 304)
        event = h11.Response(status_code=status, headers=headers, reason=reason_for(status, reason))
        return self.conn.send(event) or b""

    def body(self, data: bytes) -> bytes:
        return self.conn.send(h11.Data(data=data)) or b""

    def end(self, trailers: HeaderList) -> bytes:
        event = h11.EndOfMessage(headers=trailers if self.chunked else [])
        return self.conn.send(event) or b""

    def error(self, status: int, message: str, *, close: bool) -> bytes | None:
        """A complete plain-text error response, or ``None`` if a response head already
        went out (or h11 is in error) and the connection must be closed instead."""
        if self.conn.our_state is not h11.SEND_RESPONSE:
            return None
        body = message.encode() + b"\n"
        headers: HeaderList = [
            (b"Content-Type", b"text/plain; charset=utf-8"),
            (b"Content-Length", b"%d" % len(body)),
        ]
        if close:
            headers.append((b"Connection", b"close"))
        data = self.response(status, b"", headers)
        if self.method != b"HEAD":
            data += self.body(body)
        return data + self.end([])
