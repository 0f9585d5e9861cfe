"""Header fields for :class:`~podtap.core.routing.http2.Http2Router`: the preface, the
request head given to ``route``, what goes to the app, and hygiene for what sessions send.

h2 validates what it *receives* (lower-case names, no connection-specific fields, legal
characters), but not everything it *sends*: a bad field from a session would make the
client's HTTP/2 stack fail the whole connection, and a field h2 rejects half-way through
``send_headers`` leaves that stream (and HPACK) in a broken state. So fields a session
sends are cleaned here before they reach h2.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Final, TypeAlias

from podtap.core.routing.matcher import RequestHead
from podtap.core.routing.wire import header_tokens, with_forwarded_for

Field: TypeAlias = tuple[bytes, bytes]

H2_PREFACE: Final = b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n"
"""The client connection preface of HTTP/2 with prior knowledge (RFC 9113 §3.4)."""

_CONNECTION_SPECIFIC: Final = frozenset(
    {b"connection", b"keep-alive", b"proxy-connection", b"transfer-encoding", b"upgrade"}
)
_TCHAR: Final = frozenset(b"!#$%&'*+-.^_`|~0123456789abcdefghijklmnopqrstuvwxyz")
_BAD_VALUE: Final = (b"\r", b"\n", b"\x00")


def is_h2_preface(prefix: bytes | bytearray | memoryview) -> bool | None:
    """Whether a connection starting with ``prefix`` speaks HTTP/2 with prior knowledge:
    ``True`` (the whole 24-byte preface is there), ``False`` (certainly not), ``None``
    (a strict prefix of the preface so far: read more bytes)."""
    head = bytes(prefix[: len(H2_PREFACE)])
    if head != H2_PREFACE[: len(head)]:
        return False
    return True if len(head) == len(H2_PREFACE) else None


def plain(fields: Iterable[tuple[bytes, bytes]]) -> list[Field]:
    """Fields as plain ``(bytes, bytes)`` tuples (h2 hands out ``HeaderTuple`` objects)."""
    return [(bytes(name), bytes(value)) for name, value in fields]


def _decode(raw: bytes) -> str:
    return raw.decode("utf-8", "surrogateescape")


def request_head(fields: list[Field]) -> RequestHead:
    """The :class:`RequestHead` that ``route`` sees for an HTTP/2 request.

    ``method`` and ``target`` come from ``:method`` and ``:path`` (``:authority`` for
    CONNECT); the headers are the regular fields in order, preceded by ``host`` taken from
    ``:authority`` when the request has no ``host`` field, so filters written for
    HTTP/1.1 (``host: ...``, ``x-user: alice``) work unchanged. ``http_version`` is ``"2"``.
    """
    method = path = authority = b""
    regular: list[Field] = []
    for name, value in fields:
        if name[:1] != b":":
            regular.append((name, value))
        elif name == b":method":
            method = value
        elif name == b":path":
            path = value
        elif name == b":authority":
            authority = value
    if authority and not any(name == b"host" for name, _ in regular):
        regular.insert(0, (b"host", authority))
    return RequestHead(
        method=method.decode("ascii", "replace"),
        target=_decode(path or authority),
        headers=tuple(regular),
        http_version="2",
    )


def app_request_fields(fields: list[Field], forwarded_for: bytes) -> list[Field]:
    """The client's request fields for the app: as received (h2 validated them), plus
    ``x-forwarded-for`` (appended to the last existing one)."""
    return [(name.lower(), value) for name, value in with_forwarded_for(fields, forwarded_for)]


def clean_fields(fields: Iterable[tuple[bytes, bytes]]) -> list[Field]:
    """Regular fields safe to send with h2: names lower-cased; dropped are pseudo-fields,
    connection-specific fields (and those ``connection`` names), ``te`` other than
    ``trailers``, and fields with an illegal name or a CR/LF/NUL in the value."""
    items = plain(fields)
    drop = _CONNECTION_SPECIFIC | header_tokens(items, b"connection")
    result: list[Field] = []
    for name, value in items:
        lower = name.lower()
        if not lower or lower in drop or any(byte not in _TCHAR for byte in lower):
            continue
        value = value.strip(b" \t")
        if any(bad in value for bad in _BAD_VALUE):
            continue
        if lower == b"te" and value.lower() != b"trailers":
            continue
        result.append((lower, value))
    return result


def response_fields(status: int, fields: Iterable[tuple[bytes, bytes]]) -> list[Field]:
    """A response head for h2: ``:status`` then the cleaned fields."""
    return [(b":status", b"%d" % status), *clean_fields(fields)]


def content_length(fields: list[Field]) -> int | None:
    """The declared body length (cleaned fields), or ``None`` if absent or unusable."""
    values = {value for name, value in fields if name == b"content-length"}
    if len(values) != 1:
        return None
    value = values.pop()
    return int(value) if value.isdigit() else None


def has_field(fields: list[Field], name: bytes) -> bool:
    return any(key == name for key, _ in fields)


def error_response(message: str, *, bodyless: bool) -> tuple[list[Field], bytes]:
    """A ``502`` head and body (no body for ``HEAD``) when an answer cannot be had."""
    body = b"" if bodyless else message.encode("utf-8") + b"\n"
    fields = [
        (b":status", b"502"),
        (b"content-type", b"text/plain; charset=utf-8"),
        (b"content-length", b"%d" % len(body)),
    ]
    return fields, body
