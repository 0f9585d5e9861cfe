"""Stream frames shared by the incoming and outgoing families, and flow control."""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

from podtap.core.ids import StreamId


@dataclass(frozen=True, slots=True, kw_only=True)
class Data:
    """Bytes on a TCP stream. Counts against the stream's flow-control window."""

    TAG: ClassVar[str] = "data"
    stream: StreamId
    data: bytes


@dataclass(frozen=True, slots=True, kw_only=True)
class StreamClose:
    """The stream is finished in both directions; ``error`` set if it ended abnormally."""

    TAG: ClassVar[str] = "close_stream"
    stream: StreamId
    error: str | None = None


@dataclass(frozen=True, slots=True, kw_only=True)
class WindowUpdate:
    """The receiver consumed data: the sender may send ``credit`` more bytes on ``stream``."""

    TAG: ClassVar[str] = "window"
    stream: StreamId
    credit: int
