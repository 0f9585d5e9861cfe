"""One h2 connection as :class:`~podtap.core.routing.http2.Http2Router` uses it: the
client connection (server role) or the app connection (client role).

:class:`H2Peer` wraps ``h2.connection.H2Connection`` with the few operations the router
needs, and :class:`Outbox` holds one stream's outgoing body until the peer's flow-control
windows let it go. h2 errors that mean "that stream is already closed" are absorbed here
(frames of one batch can close a stream the router is still writing to); a broken peer
raises :class:`PeerError`.
"""

from __future__ import annotations

import struct
from collections import deque
from collections.abc import Iterable
from contextlib import suppress

from h2.config import H2Configuration
from h2.connection import H2Connection
from h2.errors import ErrorCodes
from h2.events import ConnectionTerminated, Event
from h2.exceptions import NoSuchStreamError, ProtocolError
from h2.settings import SettingCodes, Settings
from hyperframe.frame import Frame, GoAwayFrame

from podtap.core.routing.h2_fields import Field

_DEFAULT_WINDOW = 65535
_MAX_STREAMS = 100


class PeerError(Exception):
    """The peer broke the HTTP/2 protocol; h2 queued a GOAWAY, the connection is over."""


class _Connection(H2Connection):
    """An ``H2Connection`` that survives a received GOAWAY.

    h2 treats a received GOAWAY as the end of the connection: no frame may be sent or
    received afterwards. HTTP/2 lets the streams up to ``last_stream_id`` finish, and
    gRPC servers rely on it (GOAWAY on max connection age, then the calls in flight
    complete). This subclass only reports the GOAWAY (``ConnectionTerminated``); the
    router stops opening streams and decides what ends.
    """

    def _receive_goaway_frame(self, frame: GoAwayFrame) -> tuple[list[Frame], list[Event]]:
        event = ConnectionTerminated()
        event.error_code = frame.error_code
        event.last_stream_id = frame.last_stream_id
        event.additional_data = frame.additional_data or None
        return [], [event]


def goaway_frame(last_stream_id: int, error_code: int = 0) -> bytes:
    """A serialised GOAWAY frame, sent without telling h2 (h2 would refuse to send
    anything after its own ``close_connection``): used for a graceful drain."""
    payload = struct.pack("!LL", last_stream_id & 0x7FFFFFFF, error_code)
    return struct.pack("!L", len(payload))[1:] + b"\x07\x00\x00\x00\x00\x00" + payload


class Outbox:
    """One stream's body waiting for the peer's windows, then its end (with trailers or
    not). ``ended`` turns true once END_STREAM went out (or the stream proved closed)."""

    __slots__ = ("_chunks", "_offset", "ended", "ending", "size", "trailers")

    def __init__(self) -> None:
        self._chunks: deque[bytes] = deque()
        self._offset = 0
        self.size = 0
        self.ending = False
        self.trailers: list[Field] | None = None
        self.ended = False

    def push(self, data: bytes) -> None:
        if data and not self.ending:
            self._chunks.append(data)
            self.size += len(data)

    def finish(self, trailers: list[Field] | None = None) -> None:
        """No more data: END_STREAM after what is queued (on trailers, if any)."""
        if not self.ending:
            self.ending = True
            self.trailers = trailers or None

    @property
    def bare_end(self) -> bool:
        """Only END_STREAM without trailers is left to send."""
        return self.ending and not self.size and self.trailers is None and not self.ended

    def drop(self) -> int:
        """Forget the queued data (the stream died); returns how many bytes that was."""
        dropped = self.size
        self._chunks.clear()
        self._offset = 0
        self.size = 0
        return dropped

    def take(self, limit: int) -> bytes:
        chunk = self._chunks[0]
        start = self._offset
        end = min(len(chunk), start + limit)
        piece = chunk[start:end] if start or end < len(chunk) else chunk
        if end == len(chunk):
            self._chunks.popleft()
            self._offset = 0
        else:
            self._offset = end
        self.size -= len(piece)
        return piece


class H2Peer:
    """An h2 connection plus the router's view of it.

    ``window`` is the connection receive window advertised to the peer, ``stream_window``
    each stream's. The router acknowledges received data only once it is forwarded, so
    what the peer can make it hold is bounded by ``window``.
    """

    __slots__ = ("client_side", "conn", "goaway", "heard")

    def __init__(self, *, client_side: bool, window: int, stream_window: int) -> None:
        config = H2Configuration(client_side=client_side, header_encoding=None)
        conn = _Connection(config)
        initial: dict[SettingCodes, int] = {
            SettingCodes.INITIAL_WINDOW_SIZE: max(1, min(stream_window, 2**31 - 1)),
            SettingCodes.MAX_CONCURRENT_STREAMS: _MAX_STREAMS,
            SettingCodes.MAX_HEADER_LIST_SIZE: H2Connection.DEFAULT_MAX_HEADER_LIST_SIZE,
        }
        if client_side:
            initial[SettingCodes.ENABLE_PUSH] = 0
        conn.local_settings = Settings(client=client_side, initial_values=initial)
        conn.initiate_connection()
        extra = min(window, 2**31 - 1) - _DEFAULT_WINDOW
        if extra > 0:
            conn.increment_flow_control_window(extra)
        self.conn = conn
        self.client_side = client_side
        self.heard = False  # received at least one frame
        self.goaway = False  # the peer sent GOAWAY: open no more streams

    def receive(self, data: bytes) -> list[Event]:
        try:
            events = self.conn.receive_data(data)
        except ProtocolError as exc:
            raise PeerError(str(exc) or type(exc).__name__) from exc
        self.heard = self.heard or bool(events)
        return events

    def take(self) -> bytes:
        """Bytes to write to the peer."""
        return self.conn.data_to_send()

    def can_open(self) -> bool:
        limit = self.conn.remote_settings.max_concurrent_streams
        return not self.goaway and self.conn.open_outbound_streams < limit

    def open_stream(self, fields: Iterable[Field], *, end: bool) -> int:
        """Send a request (client role); returns the new stream id."""
        stream_id = self.conn.get_next_available_stream_id()
        self.conn.send_headers(stream_id, list(fields), end_stream=end)
        return stream_id

    def send_headers(self, stream_id: int, fields: list[Field], *, end: bool = False) -> bool:
        """A response head, 1xx or trailers; ``False`` if the stream is already closed."""
        try:
            self.conn.send_headers(stream_id, fields, end_stream=end)
        except NoSuchStreamError:
            return False
        return True

    def flush(self, stream_id: int, box: Outbox) -> int:
        """Send what ``box`` holds as far as the windows allow, then its end once it is
        empty. Returns how many data bytes left the box (sent, or dropped because the
        stream turned out closed), which is what the source may be credited."""
        conn = self.conn
        before = box.size
        try:
            while box.size:
                room = min(conn.local_flow_control_window(stream_id), conn.max_outbound_frame_size)
                if room <= 0:
                    break
                piece = box.take(room)
                last = not box.size and box.ending and box.trailers is None
                conn.send_data(stream_id, piece, end_stream=last)
                box.ended = last
            if box.ending and not box.size and not box.ended:
                if box.trailers is not None:
                    conn.send_headers(stream_id, box.trailers, end_stream=True)
                else:
                    conn.end_stream(stream_id)
                box.ended = True
        except NoSuchStreamError:
            box.drop()
            box.ending = box.ended = True
        return before - box.size

    def ack(self, stream_id: int, size: int) -> None:
        """``size`` flow-controlled bytes of ``stream_id`` were forwarded (or discarded)."""
        if size > 0:
            self.conn.acknowledge_received_data(size, stream_id)

    def reset(self, stream_id: int, code: int) -> None:
        with suppress(NoSuchStreamError):
            self.conn.reset_stream(stream_id, code)

    def is_open(self, stream_id: int) -> bool:
        stream = self.conn.streams.get(stream_id)
        return stream is not None and not stream.closed

    def close(self, code: int = ErrorCodes.NO_ERROR) -> None:
        """Queue our GOAWAY (the connection ends right after)."""
        with suppress(ProtocolError):
            self.conn.close_connection(code)

    @property
    def highest_inbound(self) -> int:
        return self.conn.highest_inbound_stream_id
