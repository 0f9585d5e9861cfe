"""Byte streams between a socket and a session, with the protocol's flow control.

Session → socket: data is written at once (the sender's window bounds it) and credit is
returned only after the socket drained it, so a slow socket slows only its own stream.
Socket → session: we read only while the session's window for the stream has room.
An empty Data frame is a half-close (no more bytes this way); StreamClose ends both."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Awaitable, Callable
from typing import Protocol

from podtap.core.ids import StreamId
from podtap.core.protocol import (
    Data,
    FlowReceiver,
    FlowSender,
    Payload,
    StreamClose,
    StreamMessage,
    WindowUpdate,
)
from podtap.net.relay import ByteReader
from podtap.net.tasks import TaskSet


class StreamEndpoint(Protocol):
    """One stream's local end: bytes and the end of the stream from the other side."""

    async def on_data(self, data: bytes) -> None: ...

    async def on_close(self, error: str | None) -> None: ...


class FlowChannel:
    """One session's frames over a connection, with per-stream flow control: what the
    agent's session handler and a client's operator connection have in common."""

    def __init__(self, *, label: str, send: Callable[[Payload], Awaitable[None]]) -> None:
        self.label = label
        self._send = send
        self.sender = FlowSender()
        self.receiver = FlowReceiver()
        self.streams: dict[StreamId, StreamEndpoint] = {}
        self._writable: dict[StreamId, asyncio.Event] = {}
        self.closed = False

    async def send(self, message: Payload) -> None:
        if not self.closed:
            await self._send(message)

    def open_stream(self, stream: StreamId, endpoint: StreamEndpoint) -> None:
        self.streams[stream] = endpoint
        self.sender.open(stream)
        self.receiver.open(stream)

    def forget_stream(self, stream: StreamId) -> None:
        self.streams.pop(stream, None)
        self.receiver.close(stream)
        event = self._writable.pop(stream, None)
        if event is not None:
            event.set()

    async def send_stream(self, message: StreamMessage) -> None:
        if self.closed or not self.sender.is_open(message.stream):
            return
        for out in self.sender.send(message):
            await self.send(out)

    def writable(self, stream: StreamId) -> bool:
        return self.closed or not self.sender.is_open(stream) or self.sender.writable(stream)

    async def wait_writable(self, stream: StreamId) -> None:
        while not self.writable(stream):
            event = self._writable.setdefault(stream, asyncio.Event())
            event.clear()
            await event.wait()

    async def consumed(self, stream: StreamId, size: int) -> None:
        update = self.receiver.consumed(stream, size)
        if update is not None:
            await self.send(update)

    async def on_stream_message(self, message: Data | WindowUpdate | StreamClose) -> None:
        """Data, credit and stream ends from the other side."""
        if isinstance(message, Data):
            endpoint = self.streams.get(message.stream)
            if endpoint is not None and self.receiver.on_data(message.stream, len(message.data)):
                await endpoint.on_data(message.data)
        elif isinstance(message, WindowUpdate):
            for out in self.sender.on_window_update(message):
                await self.send(out)
            if self.writable(message.stream) and message.stream in self._writable:
                self._writable[message.stream].set()
        else:
            endpoint = self.streams.pop(message.stream, None)
            if endpoint is not None:
                await endpoint.on_close(message.error)
            self.forget_stream(message.stream)


class StreamChannel(Protocol):
    """The session side a stream talks through (the agent's session handler, or a
    client's connection to the operator): flow-controlled sends and credit."""

    @property
    def label(self) -> str: ...

    async def send_stream(self, message: StreamMessage) -> None: ...

    async def wait_writable(self, stream: StreamId) -> None: ...

    async def consumed(self, stream: StreamId, size: int) -> None: ...

    def forget_stream(self, stream: StreamId) -> None: ...


READ_SIZE = 64 * 1024


class TcpStream:
    """One TCP connection carried on one stream of a session."""

    def __init__(
        self,
        session: StreamChannel,
        stream: StreamId,
        reader: ByteReader,
        writer: asyncio.StreamWriter,
    ) -> None:
        self.session = session
        self.stream = stream
        self._reader = reader
        self._writer = writer
        self._pending = 0
        self._has_data = asyncio.Event()
        self._tasks = TaskSet()
        self._sent_eof = False
        self._got_eof = False
        self.done = asyncio.Event()

    def start(self) -> None:
        name = f"session {self.session.label} stream {self.stream}"
        self._tasks.spawn(self._pump_out(), name=f"{name} read")
        self._tasks.spawn(self._drain_in(), name=f"{name} drain")

    async def _pump_out(self) -> None:
        try:
            while True:
                await self.session.wait_writable(self.stream)
                data = await self._reader.read(READ_SIZE)
                await self.session.send_stream(Data(stream=self.stream, data=data))
                if not data:
                    break
        except (ConnectionError, OSError) as exc:
            await self._end(str(exc) or type(exc).__name__)
            return
        self._sent_eof = True
        if self._got_eof:
            await self._end(None)

    async def _drain_in(self) -> None:
        while True:
            await self._has_data.wait()
            self._has_data.clear()
            size, self._pending = self._pending, 0
            try:
                await self._writer.drain()
            except (ConnectionError, OSError) as exc:
                await self._end(str(exc) or type(exc).__name__)
                return
            if size:
                await self.session.consumed(self.stream, size)

    async def on_data(self, data: bytes) -> None:
        """Bytes from the session: write now, give credit back once drained."""
        if self._writer.is_closing() or self._got_eof:
            return
        if not data:
            self._got_eof = True
            with contextlib.suppress(ConnectionError, OSError):
                if self._writer.can_write_eof():
                    self._writer.write_eof()
            if self._sent_eof:
                await self._end(None)
            return
        self._writer.write(data)
        self._pending += len(data)
        self._has_data.set()

    async def on_close(self, error: str | None) -> None:
        """The session ended the stream."""
        if error is not None:
            self._writer.transport.abort()
        await self._finish()

    async def _end(self, error: str | None) -> None:
        if not self.done.is_set():
            await self.session.send_stream(StreamClose(stream=self.stream, error=error))
            await self._finish()

    async def _finish(self) -> None:
        if self.done.is_set():
            return
        self.done.set()
        self.session.forget_stream(self.stream)
        with contextlib.suppress(ConnectionError, OSError):
            await asyncio.wait_for(self._writer.drain(), 5)
        self._writer.close()
        self._tasks.cancel_all()
