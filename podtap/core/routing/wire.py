"""Byte-level helpers for the HTTP/1.1 router: sniffing, head encoding, chunk framing."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Final

import h11

from podtap.core.protocol.incoming import Headers

HeaderList = list[tuple[bytes, bytes]]

_TCHAR: Final = frozenset(
    b"!#$%&'*+-.^_`|~0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ"
)
_MAX_METHOD: Final = 64
_VERSION: Final = b"HTTP/1."
_HOP_BY_HOP: Final = frozenset(
    {b"connection", b"keep-alive", b"proxy-connection", b"transfer-encoding", b"te", b"upgrade"}
)


def sniff_request_line(buf: bytes | bytearray) -> bool | None:
    """Judge the start of a request: ``True`` a plausible HTTP/1.x request line is complete,
    ``None`` plausible so far, ``False`` certainly not HTTP/1.x (TLS, SSH, binary, ...).

    Never stricter than h11; it exists so non-HTTP clients that wait for the server to
    answer are recognised before a whole head (which never comes) is buffered.
    """
    n = len(buf)
    i = 0
    while i < n and buf[i] in (10, 13):
        i += 1
    start = i
    while i < n and buf[i] in _TCHAR:
        i += 1
    if i - start > _MAX_METHOD:
        return False
    if i == n:
        return None
    if i == start or buf[i] != 0x20:
        return False
    i += 1
    start = i
    while i < n and 0x20 < buf[i] < 0x7F:
        i += 1
    if i == n:
        return None
    if i == start or buf[i] != 0x20:
        return False
    for k, byte in enumerate(buf[i + 1 : i + 11]):
        if k < 7:
            if byte != _VERSION[k]:
                return False
        elif k == 7:
            if not 0x30 <= byte <= 0x39:
                return False
        elif k == 8:
            if byte == 10:
                return True
            if byte != 13:
                return False
        else:
            return byte == 10
    return None


def raw_headers(headers: Iterable[tuple[bytes, bytes]]) -> HeaderList:
    """Headers as a list of ``(bytes, bytes)`` (h11 hands out bytearrays in places)."""
    return [(bytes(name), bytes(value)) for name, value in headers]


def header_tokens(headers: Iterable[tuple[bytes, bytes]], name: bytes) -> set[bytes]:
    """Lower-cased comma-separated tokens of every header called ``name`` (lower case)."""
    tokens: set[bytes] = set()
    for key, value in headers:
        if key.lower() == name:
            tokens.update(t.strip().lower() for t in value.split(b","))
    tokens.discard(b"")
    return tokens


def with_forwarded_for(headers: Iterable[tuple[bytes, bytes]], addr: bytes) -> HeaderList:
    """Append ``addr`` to the last ``X-Forwarded-For`` (``", "``), or add that header."""
    result = list(headers)
    for index in range(len(result) - 1, -1, -1):
        name, value = result[index]
        if name.lower() == b"x-forwarded-for":
            result[index] = (name, value + b", " + addr if value else addr)
            return result
    result.append((b"X-Forwarded-For", addr))
    return result


def encode_request_head(
    method: bytes, target: bytes, version: bytes, headers: Iterable[tuple[bytes, bytes]]
) -> bytes:
    parts = [method, b" ", target, b" HTTP/", version, b"\r\n"]
    for name, value in headers:
        parts += (name, b": ", value, b"\r\n")
    parts.append(b"\r\n")
    return b"".join(parts)


def encode_chunk(data: bytes) -> bytes:
    return b"%x\r\n%s\r\n" % (len(data), data)


def encode_last_chunk(trailers: Headers) -> bytes:
    return b"0\r\n" + b"".join(n + b": " + v + b"\r\n" for n, v in trailers) + b"\r\n"


def strip_hop_by_hop(headers: Iterable[tuple[bytes, bytes]]) -> HeaderList:
    """Drop connection-level headers (and those ``Connection`` names) from a response."""
    items = list(headers)
    drop = _HOP_BY_HOP | header_tokens(items, b"connection")
    return [(n, v) for n, v in items if n.lower() not in drop]


def with_close(headers: Iterable[tuple[bytes, bytes]]) -> HeaderList:
    """The headers with ``Connection: close`` (replacing any other ``Connection``)."""
    items = [(n, v) for n, v in headers if n.lower() not in (b"connection", b"keep-alive")]
    items.append((b"Connection", b"close"))
    return items


def will_chunk(*, method: bytes, status: int, headers: HeaderList, client_version: bytes) -> bool:
    """Whether h11 sends this response to the client chunked (the only way trailers go)."""
    if client_version != b"1.1" or method == b"HEAD" or status < 200 or status in (204, 304):
        return False
    if method == b"CONNECT" and status < 300:
        return False
    names = {n.lower() for n, _ in headers}
    return b"transfer-encoding" in names or b"content-length" not in names


def app_response_parser(request: h11.Request, *, max_head: int) -> h11.Connection:
    """An h11 client connection ready to parse the app's response to ``request``.

    The real request goes out as bytes we encode; h11 is told an equivalent body-less
    request so it knows the method (HEAD, CONNECT), keep-alive and a possible upgrade.
    """
    host = b"podtap"
    for name, value in request.headers:
        if name == b"host":
            host = value
    headers: HeaderList = [(b"Host", host)]
    if request.http_version != b"1.1" or b"close" in header_tokens(request.headers, b"connection"):
        headers.append((b"Connection", b"close"))
    upgrade = [value for name, value in request.headers if name == b"upgrade"]
    if upgrade:
        headers.append((b"Upgrade", upgrade[-1]))
    conn = h11.Connection(h11.CLIENT, max_incomplete_event_size=max_head)
    conn.send(h11.Request(method=request.method, target=request.target, headers=headers))
    conn.send(h11.EndOfMessage())
    return conn
