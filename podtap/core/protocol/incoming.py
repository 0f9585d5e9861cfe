"""Incoming family: port subscriptions and the traffic delivered through them."""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar, TypeAlias

from podtap.core.ids import Port, RequestId, StreamId
from podtap.core.protocol.enums import IncomingMode
from podtap.core.protocol.http_filter import HttpFilter

Headers: TypeAlias = tuple[tuple[bytes, bytes], ...]
"""HTTP header (or trailer) lines in order, as raw ``(name, value)`` bytes."""


@dataclass(frozen=True, slots=True, kw_only=True)
class Subscribe:
    """Ask for the traffic of a port of the target, mirrored or stolen, maybe filtered."""

    TAG: ClassVar[str] = "subscribe"
    request: RequestId
    port: Port
    mode: IncomingMode
    http_filter: HttpFilter | None = None


@dataclass(frozen=True, slots=True, kw_only=True)
class SubscribeResult:
    TAG: ClassVar[str] = "subscribe_result"
    request: RequestId
    ok: bool
    error: str | None = None


@dataclass(frozen=True, slots=True, kw_only=True)
class Unsubscribe:
    TAG: ClassVar[str] = "unsubscribe"
    port: Port


@dataclass(frozen=True, slots=True, kw_only=True)
class NewConnection:
    """A connection to a subscribed ``port`` of the target, now carried on ``stream``."""

    TAG: ClassVar[str] = "new_connection"
    stream: StreamId
    port: Port
    remote_addr: str
    remote_port: Port
    local_addr: str
    local_port: Port
    mode: IncomingMode


@dataclass(frozen=True, slots=True, kw_only=True)
class HttpRequestHead:
    """Start of an HTTP exchange ``request`` on ``stream`` (a filtered steal or mirror).

    ``method`` and ``path`` are the raw request line parts; bytes that are not UTF-8 are
    carried as surrogate escapes (``os.fsdecode`` convention). ``http_version`` is e.g.
    ``"1.1"`` or ``"2"``.
    """

    TAG: ClassVar[str] = "http_request"
    stream: StreamId
    request: RequestId
    method: str
    path: str
    http_version: str
    headers: Headers


@dataclass(frozen=True, slots=True, kw_only=True)
class HttpResponseHead:
    TAG: ClassVar[str] = "http_response"
    stream: StreamId
    request: RequestId
    status: int
    reason: str
    headers: Headers


@dataclass(frozen=True, slots=True, kw_only=True)
class BodyChunk:
    """Part of the body of exchange ``request``; counts against the stream's window."""

    TAG: ClassVar[str] = "body"
    stream: StreamId
    request: RequestId
    data: bytes


@dataclass(frozen=True, slots=True, kw_only=True)
class BodyEnd:
    TAG: ClassVar[str] = "body_end"
    stream: StreamId
    request: RequestId
    trailers: Headers = ()


@dataclass(frozen=True, slots=True, kw_only=True)
class MirrorDropped:
    """A lagging mirror subscriber lost ``count`` copies of traffic on ``port``."""

    TAG: ClassVar[str] = "mirror_dropped"
    port: Port
    count: int
