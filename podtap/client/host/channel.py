"""A client's session with the operator, as streams and requests (the base of `exec`).

The link under a channel may be replaced after it dropped (`relink`, driven by
`client/host/reconnect.py`): the old link's streams end with an error, requests it never
answered are asked again on the new one, and connects and requests made meanwhile wait."""

from __future__ import annotations

import asyncio
import dataclasses
import logging
from collections.abc import Awaitable, Callable
from typing import Any, cast

from podtap.client.host.operator_api import ClientSession, OperatorRefused
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
    FlowReceiver,
    FlowSender,
    GetAddrInfoResponse,
    Log,
    Payload,
    StreamClose,
    SubscribeResult,
    TransportProtocol,
    UdpDatagram,
    WindowUpdate,
)
from podtap.core.reconnect import LinkIds
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


class _Unanswered(Exception):
    """The link dropped before the reply came: ask again on the next one."""


class SessionEnded(OperatorRefused):
    """The operator ended the session (its Close) before it answered a request."""

    def __init__(self, close: Close) -> None:
        super().__init__(410, f"session ended: {close.reason.value}: {close.message}")


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
        self.link_lost = False  # the last link ended without a Close from the operator
        self._ids = LinkIds()
        self._linked = asyncio.Event()  # clear while a dropped link waits to be replaced
        self._linked.set()

    async def run(self) -> Close:
        """Dispatch the operator's frames until the link ends; returns why it ended.
        `link_lost` says it dropped (no Close from the operator): then the session may be
        resumed on a new link (`relink`), or given up (`give_up`)."""
        try:
            while True:
                message = await self.session.wire.receive()
                await self._dispatch(self._localized(message))
        except ConnectionClosed as exc:
            self.link_lost = exc.close is None
            self.ended = exc.close or Close(
                reason=CloseReason.OTHER, message="the connection closed"
            )
        except ConnectionError as exc:
            self.link_lost = True
            self.ended = Close(reason=CloseReason.OTHER, message=f"the connection failed: {exc}")
        self.closed = True
        for pending in self._requests.values():
            if not pending.done():  # asked again on a new link, or never answered
                pending.set_exception(_Unanswered() if self.link_lost else SessionEnded(self.ended))
        if self.link_lost:
            self._linked.clear()
        for event in self._writable.values():
            event.set()
        for future, _ in self._connects.values():
            if not future.done():
                future.set_result(
                    ConnectResult(stream=StreamId(0), ok=False, error=self.ended.message)
                )
        for stream, endpoint in list(self.streams.items()):
            await endpoint.on_close(self.ended.message)
            self.forget_stream(stream)
        self._connects.clear()
        return self.ended

    def relink(self, session: ClientSession) -> None:
        """Carry on over `session`: the same session, resumed on a new connection. Flow
        control starts afresh, and the new link's stream ids are kept apart from the old
        one's (`LinkIds`), so a late frame of an old stream goes nowhere."""
        self.session, self._send = session, session.wire.send
        self.sender, self.receiver = FlowSender(), FlowReceiver()
        self._ids.generation += 1
        self.closed = self.link_lost = False
        self._linked.set()

    def give_up(self, close: Close) -> None:
        """The dropped link will not be replaced: the session is over (`close` says why);
        connects that waited for a new link fail."""
        self.ended, self.link_lost = close, False
        self._linked.set()

    async def send(self, message: Payload) -> None:
        """Frames of a stream go on the link the stream belongs to, or nowhere; other
        frames (requests, Unsubscribe) made while a dropped link is replaced wait for it."""
        stream: StreamId | None = getattr(message, "stream", None)
        if stream is None:
            await self._linked.wait()
        elif (wire := self._ids.wire(stream)) is None:
            return
        elif wire != stream:
            message = dataclasses.replace(cast(Any, message), stream=wire)
        if not self.closed:
            await self._send(message)

    def _localized(self, message: object) -> object:
        stream: StreamId | None = getattr(message, "stream", None)
        if stream is None or (local := self._ids.local(stream)) == stream:
            return message
        return dataclasses.replace(cast(Any, message), stream=local)

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
        while True:
            await self._linked.wait()
            if self.closed and self.ended is not None and not self.link_lost:
                raise SessionEnded(self.ended)
            future: asyncio.Future[Payload] = asyncio.get_running_loop().create_future()
            self._requests[request_id] = future
            try:
                await self.send(make(request_id))
                return await asyncio.wait_for(future, timeout)
            except _Unanswered:
                continue  # the link dropped first: asked again, same id, on the next one
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
        registered for its bytes before any of them can arrive. Made while a dropped link
        is replaced, it waits for the new link (or fails if the session is given up)."""
        await self._linked.wait()
        if self.closed:
            error = self.ended.message if self.ended is not None else "the session is over"
            return ConnectResult(stream=StreamId(0), ok=False, error=error)
        stream = self.stream_ids.next()
        future: asyncio.Future[ConnectResult] = asyncio.get_running_loop().create_future()
        self._connects[stream] = (future, endpoint)
        await self.send(Connect(stream=stream, protocol=protocol, host=host, port=Port(port)))
        result = await future
        return ConnectResult(
            stream=stream,
            ok=result.ok,
            local_addr=result.local_addr,
            local_port=result.local_port,
            error=result.error,
        )
