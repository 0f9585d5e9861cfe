"""Protocol frames over an aiohttp WebSocket: the thin I/O shell around core.protocol."""

from __future__ import annotations

import contextlib
import logging
from typing import NoReturn

import aiohttp
from aiohttp import web

from podtap.core.protocol import (
    AcceptorHandshake,
    Close,
    CloseReason,
    ErrorFrame,
    HandshakeError,
    InitiatorHandshake,
    MalformedFrame,
    MalformedPayload,
    Message,
    Negotiated,
    ProtocolError,
    UnknownMessageType,
    decode,
    encode,
)

log = logging.getLogger(__name__)
AnyWebSocket = web.WebSocketResponse | aiohttp.ClientWebSocketResponse


class ConnectionClosed(ConnectionError):
    """The peer closed the connection (or sent Close); `close` holds its reason if any."""

    def __init__(self, close: Close | None = None) -> None:
        self.close = close
        super().__init__(f"{close.reason}: {close.message}" if close else "connection closed")


class ProtocolViolation(ConnectionClosed):
    """We closed the connection because the peer broke the protocol (`error`); the peer
    was sent `close` first."""

    def __init__(self, error: ProtocolError) -> None:
        super().__init__(error.close_frame())
        self.error = error


class WireConnection:
    """One peer's frames over a WebSocket.

    With `session_faults`, a frame malformed only inside its envelope is raised as
    `MalformedPayload` and the connection stays open: the envelope names the session at
    fault, and the caller (the agent, serving many sessions on one link) ends that one."""

    def __init__(
        self, ws: AnyWebSocket, *, label: str = "peer", session_faults: bool = False
    ) -> None:
        self.ws = ws
        self.label = label
        self.session_faults = session_faults
        self.negotiated: Negotiated | None = None

    @property
    def closed(self) -> bool:
        return self.ws.closed

    async def send(self, message: Message) -> None:
        data = encode(message)
        await self.ws.send_bytes(data)

    async def receive(self) -> Message:
        """The next frame; unknown types are answered and skipped. Raises ConnectionClosed
        at the end, and on a malformed frame (after telling the peer)."""
        while True:
            msg = await self.ws.receive()
            if msg.type in (
                aiohttp.WSMsgType.CLOSE,
                aiohttp.WSMsgType.CLOSING,
                aiohttp.WSMsgType.CLOSED,
                aiohttp.WSMsgType.ERROR,
            ):
                raise ConnectionClosed()
            if msg.type != aiohttp.WSMsgType.BINARY:
                await self._fail(MalformedFrame("expected a binary frame"))
            try:
                message = decode(msg.data)
            except UnknownMessageType as exc:
                await self.send(exc.error_frame())
                continue
            except MalformedPayload as exc:
                if not self.session_faults:
                    await self._fail(exc)
                log.warning("%s sent a bad frame for one session: %s", self.label, exc)
                raise
            except ProtocolError as exc:
                await self._fail(exc)
            if isinstance(message, Close):
                await self.ws.close()
                raise ConnectionClosed(message)
            return message

    async def _fail(self, exc: ProtocolError) -> NoReturn:
        log.warning("%s sent a bad frame: %s", self.label, exc)
        await self.close_with(exc.close_frame())
        raise ProtocolViolation(exc)

    async def close_with(self, close: Close) -> None:
        with contextlib.suppress(ConnectionError, RuntimeError, ProtocolError):
            if not self.ws.closed:
                await self.send(close)
        await self.ws.close()

    async def close(self, reason: CloseReason, message: str = "") -> None:
        await self.close_with(Close(reason=reason, message=message))

    async def initiate(self, handshake: InitiatorHandshake) -> Negotiated:
        await self.send(handshake.hello())
        reply = await self.receive()
        if isinstance(reply, ErrorFrame):
            raise ConnectionClosed(Close(reason=CloseReason.PROTOCOL_ERROR, message=reply.message))
        try:
            self.negotiated = handshake.receive(reply)
        except HandshakeError as exc:
            await self.close_with(exc.close_frame())
            raise
        except ProtocolError as exc:  # not a handshake at all (data first): say so, close
            await self._fail(exc)
        return self.negotiated

    async def accept(self, handshake: AcceptorHandshake) -> Negotiated:
        first = await self.receive()
        try:
            await self.send(handshake.receive(first))
        except HandshakeError as exc:
            await self.close_with(exc.close_frame())
            raise
        except ProtocolError as exc:  # not a handshake at all (data first): say so, close
            await self._fail(exc)
        assert handshake.result is not None
        self.negotiated = handshake.result
        return self.negotiated
