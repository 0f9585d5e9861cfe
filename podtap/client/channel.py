"""A client's session with the operator, as streams and requests (the base of `exec`)."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable

from podtap.client.operator_api import ClientSession
from podtap.core.ids import Port, RequestId, StreamId, StreamIdAllocator
from podtap.core.protocol import (
    Close,
    CloseReason,
    Connect,
    ConnectResult,
    Data,
    EnvResponse,
    FileOpenResult,
    FileReadDirResult,
    FileReadResult,
    FileStatResult,
    GetAddrInfoResponse,
    Log,
    Payload,
    StreamClose,
    SubscribeResult,
    TransportProtocol,
    UdpDatagram,
    WindowUpdate,
)
from podtap.net.streams import FlowChannel, StreamEndpoint
from podtap.net.wire import ConnectionClosed

log = logging.getLogger(__name__)
REPLIES = (
    EnvResponse,
    GetAddrInfoResponse,
    SubscribeResult,
    FileOpenResult,
    FileReadResult,
    FileStatResult,
    FileReadDirResult,
)


class ClientChannel(FlowChannel):
    def __init__(
        self, session: ClientSession, *, on_log: Callable[[Log], None] = lambda entry: None
    ) -> None:
        super().__init__(label=session.label, send=session.wire.send)
        self.session = session
        self.stream_ids = StreamIdAllocator(client_side=True)
        self.ended: Close | None = None
        self._connects: dict[
            StreamId, tuple[asyncio.Future[ConnectResult], Callable[[StreamId], StreamEndpoint]]
        ] = {}
        self._on_log = on_log
        self._requests: dict[int, asyncio.Future[Payload]] = {}
        self.on_other: Callable[[Payload], Awaitable[bool]] | None = None
        self._next_request = 1

    async def run(self) -> Close:
        """Dispatch the operator's frames until the session ends; returns why it ended."""
        try:
            while True:
                message = await self.session.wire.receive()
                await self._dispatch(message)
        except ConnectionClosed as exc:
            self.ended = exc.close or Close(CloseReason.OTHER, "the operator closed the session")
        except ConnectionError as exc:
            self.ended = Close(CloseReason.OTHER, f"lost the operator: {exc}")
        self.closed = True
        for future, _ in self._connects.values():
            if not future.done():
                future.set_result(ConnectResult(StreamId(0), False, error=self.ended.message))
        for stream, endpoint in list(self.streams.items()):
            await endpoint.on_close(self.ended.message)
            self.forget_stream(stream)
        return self.ended

    async def _dispatch(self, message: Payload | object) -> None:
        if isinstance(message, Data | WindowUpdate | StreamClose):
            await self.on_stream_message(message)
        elif isinstance(message, ConnectResult):
            waiting = self._connects.pop(message.stream, None)
            if waiting is not None:
                future, endpoint = waiting
                if message.ok:  # open before the next frame: data may follow at once
                    self.open_stream(message.stream, endpoint(message.stream))
                if not future.done():
                    future.set_result(message)
        elif isinstance(message, Log):
            self._on_log(message)
        elif isinstance(message, UdpDatagram):
            target = self.streams.get(message.stream)
            if target is not None and self.receiver.on_data(message.stream, len(message.data)):
                await target.on_data(message.data)
                await self.consumed(message.stream, len(message.data))
        elif isinstance(message, REPLIES):
            pending = self._requests.pop(message.request, None)
            if pending is not None and not pending.done():
                pending.set_result(message)
        elif self.on_other is not None:
            await self.on_other(message)  # type: ignore[arg-type]

    async def request(
        self, make: Callable[[RequestId], Payload], *, timeout: float = 30
    ) -> Payload:
        """Send `make(request_id)` and wait for the reply with that request id."""
        request_id = RequestId(self._next_request)
        self._next_request += 1
        future: asyncio.Future[Payload] = asyncio.get_running_loop().create_future()
        self._requests[request_id] = future
        try:
            await self.send(make(request_id))
            return await asyncio.wait_for(future, timeout)
        finally:
            self._requests.pop(request_id, None)

    async def connect(
        self,
        host: str,
        port: int,
        *,
        endpoint: Callable[[StreamId], StreamEndpoint],
        protocol: TransportProtocol = TransportProtocol.TCP,
    ) -> ConnectResult:
        """Open a connection from the target pod; on success `endpoint(stream)` is
        registered for its bytes before any of them can arrive."""
        stream = self.stream_ids.next()
        future: asyncio.Future[ConnectResult] = asyncio.get_running_loop().create_future()
        self._connects[stream] = (future, endpoint)
        await self.send(Connect(stream, protocol, host, Port(port)))
        result = await future
        return ConnectResult(stream, result.ok, result.local_addr, result.local_port, result.error)
