"""Session family: handshake, liveness, close, user-visible logs and errors."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import ClassVar

from podtap.core.protocol.enums import CloseReason, ErrorCode, LogLevel


@dataclass(frozen=True, slots=True, kw_only=True)
class Hello:
    """First frame of the initiating side: the protocol versions and features it speaks."""

    TAG: ClassVar[str] = "hello"
    min_version: int
    max_version: int
    features: frozenset[str]
    peer_name: str
    peer_version: str


@dataclass(frozen=True, slots=True, kw_only=True)
class HelloAck:
    """Answer to ``Hello``: the chosen version and the features both sides use."""

    TAG: ClassVar[str] = "hello_ack"
    version: int
    features: frozenset[str]
    peer_name: str
    peer_version: str


@dataclass(frozen=True, slots=True, kw_only=True)
class Ping:
    TAG: ClassVar[str] = "ping"
    nonce: int


@dataclass(frozen=True, slots=True, kw_only=True)
class Pong:
    """Answer to ``Ping``; an agent adds its cumulative traffic counters in ``stats``."""

    TAG: ClassVar[str] = "pong"
    nonce: int
    stats: dict[str, int] = field(default_factory=dict)


@dataclass(frozen=True, slots=True, kw_only=True)
class Close:
    """The sender ends the session (or connection); the receiver shows ``message``."""

    TAG: ClassVar[str] = "close"
    reason: CloseReason
    message: str = ""


@dataclass(frozen=True, slots=True, kw_only=True)
class Log:
    """A message to show the user (e.g. a refused steal, a lagging mirror)."""

    TAG: ClassVar[str] = "log"
    level: LogLevel
    message: str


@dataclass(frozen=True, slots=True, kw_only=True)
class ErrorFrame:
    """Reports a problem with a frame the peer sent; ``in_reply_to`` is its type tag."""

    TAG: ClassVar[str] = "error"
    code: ErrorCode
    message: str
    in_reply_to: str | None = None
