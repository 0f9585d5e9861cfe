"""Sans-IO per-stream credit-based flow control.

Each direction of each stream has a window (default 256 KiB). The sender may have at most
that many bytes of ``Data``/``BodyChunk``/``UdpDatagram`` payload outstanding; the receiver
returns credit with ``WindowUpdate`` once the application consumed enough (half the window
by default). Other stream messages (heads, ``BodyEnd``, ``StreamClose``) cost no credit but
keep their place in the stream's order. Streams are independent: a stream without credit
only queues its own messages.
"""

from __future__ import annotations

from collections import deque
from typing import Final

from podtap.core.ids import StreamId
from podtap.core.protocol.errors import FlowControlError
from podtap.core.protocol.incoming import BodyChunk, NewConnection
from podtap.core.protocol.messages import StreamMessage
from podtap.core.protocol.outgoing import ConnectResult, UdpDatagram
from podtap.core.protocol.streams import Data, StreamClose, WindowUpdate

DEFAULT_WINDOW: Final = 256 * 1024
"""Initial credit of every stream, in each direction."""
DEFAULT_MAX_FRAME_DATA: Final = 64 * 1024
"""Largest payload the sender puts in one ``Data``/``BodyChunk`` frame."""
MAX_WINDOW: Final = 2**31 - 1
"""Credit beyond this is a peer bug (:class:`FlowControlError`)."""


class _SendState:
    __slots__ = ("closing", "credit", "offset", "queue", "queued")

    def __init__(self, credit: int) -> None:
        self.credit = credit
        self.queue: deque[StreamMessage] = deque()
        self.offset = 0  # bytes of queue[0].data already sent
        self.queued = 0  # payload bytes waiting in queue
        self.closing = False


class FlowSender:
    """Decides which stream messages may go out now; queues the rest per stream.

    ``send()`` never refuses: callers apply backpressure by not producing more for a
    stream while :meth:`writable` is false (then at most ``max_queued`` plus one message
    is buffered per stream).
    """

    __slots__ = ("_max_frame_data", "_streams", "max_queued", "window")

    def __init__(
        self,
        *,
        window: int = DEFAULT_WINDOW,
        max_queued: int = DEFAULT_WINDOW,
        max_frame_data: int = DEFAULT_MAX_FRAME_DATA,
    ) -> None:
        if not 0 < window <= MAX_WINDOW or max_queued <= 0 or max_frame_data <= 0:
            raise ValueError("window, max_queued and max_frame_data must be positive")
        self.window = window
        self.max_queued = max_queued
        self._max_frame_data = max_frame_data
        self._streams: dict[StreamId, _SendState] = {}

    def open(self, stream: StreamId, *, window: int | None = None) -> None:
        """Start tracking ``stream`` with the peer's initial window (default ``window``)."""
        if stream in self._streams:
            raise ValueError(f"stream {stream} is already open")
        self._streams[stream] = _SendState(self.window if window is None else window)

    def is_open(self, stream: StreamId) -> bool:
        return stream in self._streams

    def credit(self, stream: StreamId) -> int:
        """Bytes the peer currently allows on ``stream`` (0 if unknown)."""
        state = self._streams.get(stream)
        return 0 if state is None else state.credit

    def queued_bytes(self, stream: StreamId) -> int:
        """Payload bytes waiting for credit on ``stream`` (0 if unknown)."""
        state = self._streams.get(stream)
        return 0 if state is None else state.queued

    @property
    def total_queued(self) -> int:
        return sum(state.queued for state in self._streams.values())

    def writable(self, stream: StreamId) -> bool:
        """False when the caller should stop producing data for ``stream`` (or it is gone)."""
        state = self._streams.get(stream)
        return state is not None and not state.closing and state.queued < self.max_queued

    def send(self, message: StreamMessage) -> list[StreamMessage]:
        """Queue ``message``; return the messages that may be sent now, in order.

        A ``StreamClose`` ends the stream once everything before it went out.
        """
        state = self._streams.get(message.stream)
        if state is None:
            raise ValueError(f"stream {message.stream} is not open")
        if state.closing:
            raise ValueError(f"stream {message.stream} is closing")
        if not state.queue and type(message) is Data:  # fast path: nothing waiting
            size = len(message.data)
            if size <= state.credit and size <= self._max_frame_data:
                state.credit -= size
                return [message]
        if isinstance(message, UdpDatagram) and len(message.data) > self.window:
            raise ValueError(f"datagram of {len(message.data)} bytes exceeds the window")
        if isinstance(message, StreamClose):
            state.closing = True
        elif isinstance(message, Data | BodyChunk | UdpDatagram):
            state.queued += len(message.data)
        state.queue.append(message)
        return self._drain(message.stream, state)

    def on_window_update(self, update: WindowUpdate) -> list[StreamMessage]:
        """Add the peer's credit; return queued messages that may be sent now."""
        _check_update(update)
        state = self._streams.get(update.stream)
        if state is None:
            return []  # the stream ended while the update was in flight
        state.credit = _granted(update, state.credit)
        return self._drain(update.stream, state) if state.queue else []

    def reset(self, stream: StreamId) -> int:
        """Forget ``stream`` (peer closed it, or abort); returns the dropped payload bytes."""
        state = self._streams.pop(stream, None)
        return 0 if state is None else state.queued

    def __len__(self) -> int:
        return len(self._streams)

    def _drain(self, stream: StreamId, state: _SendState) -> list[StreamMessage]:
        out: list[StreamMessage] = []
        queue = state.queue
        while queue:
            message = queue[0]
            if isinstance(message, Data | BodyChunk):
                size = len(message.data)
                count = min(size - state.offset, state.credit, self._max_frame_data)
                if count <= 0 and size:
                    break
                if state.offset == 0 and count == size:
                    out.append(message)
                else:
                    chunk = message.data[state.offset : state.offset + count]
                    out.append(_with_data(message, chunk))
                state.offset += count
                state.credit -= count
                state.queued -= count
                if state.offset < size:
                    continue
                state.offset = 0
            elif isinstance(message, UdpDatagram):
                if len(message.data) > state.credit:
                    break
                state.credit -= len(message.data)
                state.queued -= len(message.data)
                out.append(message)
            else:
                out.append(message)
                if isinstance(message, StreamClose):
                    del self._streams[stream]
            queue.popleft()
        return out


def _check_update(update: WindowUpdate) -> None:
    """Credit is only ever given, never taken back: zero or less is a peer bug."""
    if update.credit <= 0:
        raise FlowControlError(
            f"window update of {update.credit} bytes on stream {update.stream}",
            in_reply_to=WindowUpdate.TAG,
        )


def _granted(update: WindowUpdate, credit: int) -> int:
    """``credit`` grown by ``update``; beyond :data:`MAX_WINDOW` is a peer bug."""
    if credit + update.credit > MAX_WINDOW:
        raise FlowControlError(
            f"credit of stream {update.stream} overflows ({credit} + {update.credit})",
            in_reply_to=WindowUpdate.TAG,
        )
    return credit + update.credit


def _spent(stream: StreamId, size: int, credit: int) -> int:
    """``credit`` left after ``size`` payload bytes; more than the credit is a peer bug."""
    if size > credit:
        raise FlowControlError(
            f"peer sent {size} bytes on stream {stream} with only {credit} credit"
        )
    return credit - size


def _with_data(message: Data | BodyChunk, chunk: bytes) -> Data | BodyChunk:
    if isinstance(message, Data):
        return Data(stream=message.stream, data=chunk)
    return BodyChunk(stream=message.stream, request=message.request, data=chunk)


class _RecvState:
    __slots__ = ("buffered", "pending", "remaining")

    def __init__(self, window: int) -> None:
        self.remaining = window  # bytes the peer may still send
        self.buffered = 0  # received, not yet consumed by the application
        self.pending = 0  # consumed, not yet returned to the peer


class FlowReceiver:
    """Checks the peer stays within its credit and returns credit as data is consumed."""

    __slots__ = ("_streams", "update_threshold", "window")

    def __init__(
        self, *, window: int = DEFAULT_WINDOW, update_threshold: int | None = None
    ) -> None:
        threshold = max(1, window // 2) if update_threshold is None else update_threshold
        if not 0 < window <= MAX_WINDOW or not 0 < threshold <= window:
            raise ValueError("need 0 < update_threshold <= window <= MAX_WINDOW")
        self.window = window
        self.update_threshold = threshold
        self._streams: dict[StreamId, _RecvState] = {}

    def open(self, stream: StreamId, *, window: int | None = None) -> None:
        if stream in self._streams:
            raise ValueError(f"stream {stream} is already open")
        self._streams[stream] = _RecvState(self.window if window is None else window)

    def is_open(self, stream: StreamId) -> bool:
        return stream in self._streams

    def buffered(self, stream: StreamId) -> int:
        """Bytes received on ``stream`` and not yet reported consumed (0 if unknown)."""
        state = self._streams.get(stream)
        return 0 if state is None else state.buffered

    def on_data(self, stream: StreamId, size: int) -> bool:
        """Record ``size`` payload bytes received; False if ``stream`` is not open.

        Raises :class:`FlowControlError` if the peer exceeded its credit.
        """
        state = self._streams.get(stream)
        if state is None:
            return False
        state.remaining = _spent(stream, size, state.remaining)
        state.buffered += size
        return True

    def consumed(self, stream: StreamId, size: int) -> WindowUpdate | None:
        """The application consumed ``size`` bytes; returns a ``WindowUpdate`` to send, if due."""
        state = self._streams.get(stream)
        if state is None:
            return None
        if not 0 <= size <= state.buffered:
            raise ValueError(f"consumed {size} bytes on stream {stream}, {state.buffered} buffered")
        state.buffered -= size
        state.pending += size
        if state.pending < self.update_threshold:
            return None
        credit, state.pending = state.pending, 0
        state.remaining += credit
        return WindowUpdate(stream=stream, credit=credit)

    def close(self, stream: StreamId) -> None:
        """Forget ``stream``; later data for it makes :meth:`on_data` return False."""
        self._streams.pop(stream, None)

    def __len__(self) -> int:
        return len(self._streams)


class RelayFlowCheck:
    """Checks both directions of a relayed session against the windows of its two ends.

    A relay (the operator, between a client and the agent) buffers nothing and owns no
    window, yet it must not pass on a frame that breaks flow control: the receiver would
    end on it. This mirrors the ends' accounting from the frames that pass: a stream opens
    when the agent announces it (``NewConnection``, or a ``ConnectResult`` that succeeded),
    each side's payload spends its credit, a ``WindowUpdate`` from one side adds to the
    other's, a ``StreamClose`` forgets the stream. The relay sees a ``WindowUpdate`` before
    the side it credits can use it, so a side that keeps to its window never fails here.
    Frames of streams it does not track pass unchecked (the receiver drops them as stale).
    """

    __slots__ = ("_credit", "window")

    def __init__(self, *, window: int = DEFAULT_WINDOW) -> None:
        self.window = window
        self._credit: dict[tuple[bool, StreamId], int] = {}  # (from_client, stream) -> credit

    def check(self, message: object, *, from_client: bool) -> None:
        """Account for ``message`` going through; raise :class:`FlowControlError` if the
        side that sent it broke the protocol."""
        if isinstance(message, Data | BodyChunk | UdpDatagram):
            self._spend(message.stream, len(message.data), from_client=from_client)
        elif isinstance(message, WindowUpdate):
            self._grant(message, to_client=not from_client)
        elif isinstance(message, StreamClose):
            self._forget(message.stream)
        elif not from_client:
            self._on_agent_stream(message)

    def _on_agent_stream(self, message: object) -> None:
        if isinstance(message, NewConnection) or (
            isinstance(message, ConnectResult) and message.ok
        ):
            for side in (True, False):
                self._credit.setdefault((side, message.stream), self.window)
        elif isinstance(message, ConnectResult):
            self._forget(message.stream)

    def _spend(self, stream: StreamId, size: int, *, from_client: bool) -> None:
        key = (from_client, stream)
        credit = self._credit.get(key)
        if credit is None:
            return
        self._credit[key] = _spent(stream, size, credit)

    def _grant(self, update: WindowUpdate, *, to_client: bool) -> None:
        _check_update(update)
        key = (to_client, update.stream)
        credit = self._credit.get(key)
        if credit is not None:
            self._credit[key] = _granted(update, credit)

    def _forget(self, stream: StreamId) -> None:
        self._credit.pop((True, stream), None)
        self._credit.pop((False, stream), None)

    def __len__(self) -> int:
        """Streams tracked (each counted once)."""
        return len(self._credit) // 2
