"""SPDY/3.1 framing, sans-IO: as much of it as `kubectl port-forward` speaks.

kubectl 1.37 forwards ports over a WebSocket whose binary messages carry a SPDY/3.1
connection (subprotocol `SPDY/3.1+portforward.k8s.io`): the client opens streams with
SYN_STREAM, the server answers each with SYN_REPLY, and both send DATA frames, the last one
flagged FIN. Header blocks are zlib streams with SPDY's dictionary, one compression context
per direction for the whole connection, so header frames must be built in the order they are
sent. Flow control (WINDOW_UPDATE) is not spoken by kubectl's spdystream and is ignored here.
"""

from __future__ import annotations

import struct
import zlib
from dataclasses import dataclass

_WORDS = (
    "options head post put delete trace accept accept-charset accept-encoding accept-language "
    "accept-ranges age allow authorization cache-control connection content-base "
    "content-encoding content-language content-length content-location content-md5 "
    "content-range content-type date etag expect expires from host if-match "
    "if-modified-since if-none-match if-range if-unmodified-since last-modified location "
    "max-forwards pragma proxy-authenticate proxy-authorization range referer retry-after "
    "server te trailer transfer-encoding upgrade user-agent vary via warning www-authenticate "
    "method get status 200_OK version HTTP/1.1 url public set-cookie keep-alive origin"
)
_TAIL = (
    "100101201202205206300302303304305306307402405406407408409410411412413414415416417502504505"
    "203 Non-Authoritative Information204 No Content301 Moved Permanently400 Bad Request401 "
    "Unauthorized403 Forbidden404 Not Found500 Internal Server Error501 Not Implemented503 "
    "Service UnavailableJan Feb Mar Apr May Jun Jul Aug Sept Oct Nov Dec 00:00:00 Mon, Tue, "
    "Wed, Thu, Fri, Sat, Sun, GMTchunked,text/html,image/png,image/jpg,image/gif,"
    "application/xml,application/xhtml+xml,text/plain,text/javascript,publicprivatemax-age="
    "gzip,deflate,sdchcharset=utf-8charset=iso-8859-1,utf-,*,enq=0."
)


def _dictionary() -> bytes:
    """SPDY/3's zlib dictionary: length-prefixed header words, then status and date words."""
    words = [w.replace("_", " ") for w in _WORDS.split()]
    out = b"".join(struct.pack(">I", len(w)) + w.encode() for w in words)
    return out + _TAIL.encode()


DICTIONARY = _dictionary()
VERSION = 3
SYN_STREAM, SYN_REPLY, RST_STREAM, SETTINGS, PING, GOAWAY = 1, 2, 3, 4, 6, 7
FLAG_FIN = 0x01
CANCEL = 5
_MAX_DATA = (1 << 24) - 1


@dataclass(frozen=True)
class SynStream:
    stream_id: int
    headers: dict[str, str]
    fin: bool


@dataclass(frozen=True)
class Data:
    stream_id: int
    data: bytes
    fin: bool


@dataclass(frozen=True)
class Reset:
    stream_id: int
    status: int


@dataclass(frozen=True)
class Ping:
    ping_id: int


@dataclass(frozen=True)
class GoAway:
    last_stream_id: int


Event = SynStream | Data | Reset | Ping | GoAway


class ProtocolError(ValueError):
    pass


class Connection:
    """One side of a SPDY/3.1 connection: bytes in, events out; frames to send out."""

    def __init__(self) -> None:
        self._buffer = bytearray()
        self._inflate = zlib.decompressobj(zdict=DICTIONARY)
        self._deflate = zlib.compressobj(
            9, zlib.DEFLATED, 15, 8, zlib.Z_DEFAULT_STRATEGY, DICTIONARY
        )

    def receive(self, data: bytes) -> list[Event]:
        self._buffer += data
        events: list[Event] = []
        while len(self._buffer) >= 8:
            length = int.from_bytes(self._buffer[5:8], "big")
            if len(self._buffer) < 8 + length:
                break
            head, payload = bytes(self._buffer[:8]), bytes(self._buffer[8 : 8 + length])
            del self._buffer[: 8 + length]
            event = self._frame(head, payload)
            if event is not None:
                events.append(event)
        return events

    def _frame(self, head: bytes, payload: bytes) -> Event | None:
        first, flags = int.from_bytes(head[:4], "big"), head[4]
        if not first & 0x80000000:
            return Data(first & 0x7FFFFFFF, payload, bool(flags & FLAG_FIN))
        kind = first & 0xFFFF
        if kind == SYN_STREAM:
            if len(payload) < 10:
                raise ProtocolError("short SYN_STREAM")
            stream_id = int.from_bytes(payload[:4], "big") & 0x7FFFFFFF
            return SynStream(stream_id, self._headers(payload[10:]), bool(flags & FLAG_FIN))
        if kind == RST_STREAM and len(payload) >= 8:
            sid, status = struct.unpack(">II", payload[:8])
            return Reset(sid & 0x7FFFFFFF, status)
        if kind == PING and len(payload) >= 4:
            return Ping(int.from_bytes(payload[:4], "big"))
        if kind == GOAWAY and len(payload) >= 4:
            return GoAway(int.from_bytes(payload[:4], "big") & 0x7FFFFFFF)
        return None  # SETTINGS, WINDOW_UPDATE, HEADERS: nothing to do for port-forward

    def _headers(self, block: bytes) -> dict[str, str]:
        try:
            raw = self._inflate.decompress(block)
        except zlib.error as e:
            raise ProtocolError(f"bad header block: {e}") from e
        headers: dict[str, str] = {}
        count, at = int.from_bytes(raw[:4], "big"), 4
        for _ in range(count):
            size = int.from_bytes(raw[at : at + 4], "big")
            name = raw[at + 4 : at + 4 + size].decode()
            at += 4 + size
            size = int.from_bytes(raw[at : at + 4], "big")
            headers[name.lower()] = raw[at + 4 : at + 4 + size].decode()
            at += 4 + size
        return headers

    def _control(self, kind: int, flags: int, payload: bytes) -> bytes:
        head = struct.pack(">HHI", 0x8000 | VERSION, kind, (flags << 24) | len(payload))
        return head + payload

    def syn_reply(self, stream_id: int, headers: dict[str, str] | None = None) -> bytes:
        items = sorted((headers or {}).items())
        block = struct.pack(">I", len(items)) + b"".join(
            struct.pack(">I", len(k)) + k.encode() + struct.pack(">I", len(v)) + v.encode()
            for k, v in items
        )
        packed = self._deflate.compress(block) + self._deflate.flush(zlib.Z_SYNC_FLUSH)
        return self._control(SYN_REPLY, 0, struct.pack(">I", stream_id) + packed)

    def data(self, stream_id: int, data: bytes, *, fin: bool = False) -> bytes:
        frames = []
        for at in range(0, max(len(data), 1), _MAX_DATA):
            chunk = data[at : at + _MAX_DATA]
            last = fin and at + _MAX_DATA >= len(data)
            flags = FLAG_FIN if last else 0
            frames.append(struct.pack(">II", stream_id, (flags << 24) | len(chunk)) + chunk)
        return b"".join(frames)

    def reset(self, stream_id: int, status: int = CANCEL) -> bytes:
        return self._control(RST_STREAM, 0, struct.pack(">II", stream_id, status))

    def ping(self, ping_id: int) -> bytes:
        return self._control(PING, 0, struct.pack(">I", ping_id))
