"""The fast path for plain HTTP/1.1 requests that no filter matches.

:class:`~podtap.core.routing.http1.Http1Router` handles every case h11 knows, but costs
about 100 µs of pure Python per request, and on a filtered port almost every request is a
teammate's, bound for the real app. :class:`Http1FastPath` sits in front of it: a request
whose head is *plain* (see below) and that no filter matches is recognised with two C-level
regex searches, sent to the app byte for byte (plus ``X-Forwarded-For``) with its
``Content-Length`` body streamed as it arrives, and the app's responses are relayed to the
client unchanged while httptools (llhttp) counts them.

Anything else stops the fast path at that request's first byte (:attr:`handoff`): the
shell waits until every forwarded request is answered (:attr:`idle`), then gives
:meth:`take_backlog` to a new ``Http1Router``, which parses from that request on. *Plain*
means: a request line ``token SP target SP HTTP/1.1`` and header lines ``token: value``
(no obs-fold, no bare LF), a ``Host``, at most one all-digit ``Content-Length``, no
``Transfer-Encoding``, ``Expect``, ``Upgrade``, ``TE``, ``Connection`` other than
``keep-alive``, and not ``HEAD`` or ``CONNECT`` (their responses cannot be counted without
knowing the request). A filter match, non-HTTP bytes and malformed heads therefore get
exactly the router's behaviour. If the app's bytes are not HTTP (or it switches protocols
unasked), routing stops for good: :attr:`raw` turns true and every later byte is relayed
unchanged, both ways (fail open).
"""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Final

import httptools

from podtap.core.routing.actions import Route
from podtap.core.routing.matcher import RequestHead
from podtap.core.routing.wire import (
    encode_request_head,
    sniff_request_line,
    with_forwarded_for,
)

__all__ = ["Http1FastPath"]

_TOKEN: Final = rb"[-!#$%&'*+.^_`|~0-9A-Za-z]+"
_HEAD: Final = re.compile(
    rb"(" + _TOKEN + rb") ([\x21-\x7e]+) HTTP/1\.1\r\n"
    rb"((?:" + _TOKEN + rb":[\t\x20-\x7e\x80-\xff]*\r\n)*)\r\n"
)
# A value is runs of visible bytes joined by blanks: each byte has one reading, so a long
# run of blanks costs linear time (a lazy ``[...]*?`` before ``[ \t]*`` was quadratic: a
# 60 KB run of " \t" in one header stalled the agent for 5 s, issue 9).
_VISIBLE: Final = rb"[\x21-\x7e\x80-\xff]+"
_FIELD: Final = re.compile(
    rb"(" + _TOKEN + rb"):[ \t]*((?:" + _VISIBLE + rb"(?:[ \t]+" + _VISIBLE + rb")*)?)[ \t]*\r\n"
)
# lower-cased names that need a look; the values say what to do
_HOST, _LENGTH, _XFF, _CONNECTION = b"host", b"content-length", b"x-forwarded-for", b"connection"
_LOOK: Final = frozenset({_HOST, _LENGTH, _XFF, _CONNECTION})
_ROUTER_ONLY: Final = frozenset({b"transfer-encoding", b"expect", b"upgrade", b"te"})
_UNCOUNTABLE: Final = frozenset({b"HEAD", b"CONNECT"})


class Http1FastPath:
    """One client connection's fast path; performs no I/O.

    ``Http1FastPath(*, route, client_addr, max_head=64 * 1024)``: ``route(head)`` returns a
    session key or ``None`` (the real app) and must be free of side effects (a matched
    request is routed again by the router); ``client_addr`` goes into ``X-Forwarded-For``.

    - :meth:`client_data` takes the client's bytes and returns what to write to the app;
    - :meth:`app_data` takes the app's bytes (the shell relays them to the client as they
      are); :meth:`take_passed` tells how many requests went to the app since last asked.
    """

    __slots__ = (
        "_body_left",
        "_buf",
        "_interim",
        "_max_head",
        "_passed",
        "_response",
        "_route",
        "_xff",
        "_xff_line",
        "answered",
        "handoff",
        "raw",
        "sent",
    )

    def __init__(
        self,
        *,
        route: Callable[[RequestHead], Route],
        client_addr: str,
        max_head: int = 64 * 1024,
    ) -> None:
        self._route = route
        self._xff = client_addr.encode("utf-8")
        self._xff_line = b"X-Forwarded-For: " + self._xff + b"\r\n\r\n"
        self._max_head = max_head
        self._buf = b""  # client bytes from a request's first byte, not yet sent
        self._body_left = 0  # bytes of the current request's body still to pass
        self._passed = 0
        self._interim = False
        self._response = httptools.HttpResponseParser(self)
        self.sent = 0  # requests sent to the app
        self.answered = 0  # complete final responses the app sent
        self.handoff = False  # the router must take over at the start of the backlog
        self.raw = False  # the app is not speaking HTTP/1.1: relay bytes, route nothing

    @property
    def idle(self) -> bool:
        """Every request sent to the app has its complete response (none is in flight)."""
        return self.answered >= self.sent and not self._body_left

    def take_passed(self) -> int:
        passed, self._passed = self._passed, 0
        return passed

    def take_backlog(self) -> bytes:
        """The client's bytes from the request the router must start with."""
        data, self._buf = self._buf, b""
        return data

    def client_data(self, data: bytes) -> bytes:
        """Bytes read from the client; returns the bytes to write to the app now."""
        if self.raw:
            data, self._buf = self._buf + data, b""
            return data
        if self.handoff:
            self._buf += data
            return b""
        out: list[bytes] = []
        left = self._body_left
        if left:
            if len(data) <= left:
                self._body_left = left - len(data)
                return data
            out.append(data[:left])
            data = data[left:]
            self._body_left = 0
        buf = self._buf + data if self._buf else data
        pos, size = 0, len(buf)
        while pos < size:
            end = buf.find(b"\r\n\r\n", pos)
            if end < 0:  # not a whole head yet: wait, unless it cannot be HTTP/1.x
                rest = buf[pos:]
                self.handoff = len(rest) > self._max_head or sniff_request_line(rest) is False
                break
            match = _HEAD.fullmatch(buf, pos, end + 4)
            plain = self._forwardable(match) if match is not None else None
            if plain is None:
                self.handoff = True
                break
            head, length = plain
            out.append(head)
            pos = end + 4
            if length:
                chunk = buf[pos : pos + length]
                out.append(chunk)
                pos += len(chunk)
                self._body_left = length - len(chunk)
        self._buf = buf[pos:]
        return b"".join(out)

    def _forwardable(self, match: re.Match[bytes]) -> tuple[bytes, int] | None:
        """For a plain request no filter matches: its head as the app gets it (with
        ``X-Forwarded-For``) and its body length; ``None``: the router must take it."""
        method, target, block = match.groups()
        if method in _UNCOUNTABLE:
            return None
        fields: list[tuple[bytes, bytes]] = _FIELD.findall(block)
        length, host, xff = -1, False, False
        for name, value in fields:
            lower = name.lower()
            if lower in _LOOK:
                if lower == _HOST:
                    host = True
                elif lower == _LENGTH:
                    if length >= 0 or not value.isdigit() or len(value) > 18:
                        return None
                    length = int(value)
                elif lower == _XFF:
                    xff = True
                elif value.lower() != b"keep-alive":
                    return None
            elif lower in _ROUTER_ONLY:
                return None
        if not host:
            return None
        head = RequestHead(
            method.decode("ascii"),
            target.decode("utf-8", "surrogateescape"),
            tuple(fields),
            "1.1",
        )
        if self._route(head) is not None:
            return None
        self.sent += 1
        self._passed += 1
        length = max(length, 0)
        if xff:  # the client's own X-Forwarded-For: extend it
            headers = with_forwarded_for(fields, self._xff)
            return encode_request_head(method, target, b"1.1", headers), length
        return match.group(0)[:-2] + self._xff_line, length

    def app_data(self, data: bytes) -> None:
        """Bytes the app sent (the shell relays them to the client unchanged)."""
        if self.raw or not data:
            return
        try:
            self._response.feed_data(data)
        except (httptools.HttpParserUpgrade, httptools.HttpParserError):
            self._go_raw()

    def _go_raw(self) -> None:
        self.raw = True
        self.handoff = False

    # httptools callbacks
    def on_headers_complete(self) -> None:
        status = self._response.get_status_code()
        self._interim = 100 <= status < 200

    def on_message_complete(self) -> None:
        if not self._interim:
            self.answered += 1
