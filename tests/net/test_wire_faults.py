"""WireConnection over a real WebSocket, in process (no root): what a peer is told when its
frame is bad, and which bad frames leave the connection open."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from pathlib import Path

import aiohttp
import msgpack
import pytest
from aiohttp import web

from podtap.core.ids import StreamId
from podtap.core.protocol import (
    AcceptorHandshake,
    Close,
    CloseReason,
    Data,
    Envelope,
    MalformedPayload,
    Message,
    Ping,
    decode,
    encode,
)
from podtap.net.wire import ProtocolViolation, WireConnection

Serve = Callable[[WireConnection], Awaitable[object]]


@asynccontextmanager
async def served(
    tmp_path: Path, serve: Serve, *, session_faults: bool = False
) -> AsyncIterator[tuple[aiohttp.ClientWebSocketResponse, asyncio.Future[object]]]:
    """A WebSocket to a server running `serve` on its WireConnection; the future holds what
    `serve` returned or raised."""
    outcome: asyncio.Future[object] = asyncio.get_running_loop().create_future()

    async def handler(request: web.Request) -> web.WebSocketResponse:
        ws = web.WebSocketResponse()
        await ws.prepare(request)
        try:
            outcome.set_result(await serve(WireConnection(ws, session_faults=session_faults)))
        except Exception as exc:
            outcome.set_result(exc)
        return ws

    app = web.Application()
    app.router.add_get("/ws", handler)
    runner = web.AppRunner(app)
    await runner.setup()
    sock = str(tmp_path / "wire.sock")
    await web.UnixSite(runner, sock).start()
    try:
        async with (
            aiohttp.ClientSession(connector=aiohttp.UnixConnector(path=sock)) as http,
            http.ws_connect("http://wire/ws") as ws,
        ):
            yield ws, outcome
    finally:
        await runner.cleanup()


async def closed_with(ws: aiohttp.ClientWebSocketResponse) -> Message | None:
    """The last frame before the server closed the WebSocket (we answer its close, so the
    server need not wait for us)."""
    last = None
    async with asyncio.timeout(5):
        while (msg := await ws.receive()).type == aiohttp.WSMsgType.BINARY:
            last = decode(msg.data)
    assert msg.type in (aiohttp.WSMsgType.CLOSE, aiohttp.WSMsgType.CLOSED), msg
    return last


def test_data_before_hello_is_answered_with_close(tmp_path: Path) -> None:
    async def go() -> None:
        async def accept(wire: WireConnection) -> object:
            return await wire.accept(AcceptorHandshake(name="test", version="0"))

        async with served(tmp_path, accept) as (ws, outcome):
            await ws.send_bytes(encode(Data(stream=StreamId(1), data=b"hi")))
            close = await closed_with(ws)
            assert close == Close(
                reason=CloseReason.PROTOCOL_ERROR, message="expected hello first, got data"
            )
            assert isinstance(await outcome, ProtocolViolation)

    asyncio.run(go())


BAD_INNER = msgpack.packb(["envelope", 42, ["data", "x", b""]])


async def two_frames(wire: WireConnection) -> object:
    """Receive twice; report the first frame's fault and the second frame."""
    try:
        await wire.receive()
    except MalformedPayload as exc:
        return exc.session, await wire.receive()
    raise AssertionError("the bad frame was accepted")


def test_with_session_faults_a_bad_message_in_an_envelope_keeps_the_connection(
    tmp_path: Path,
) -> None:
    async def go() -> None:
        async with served(tmp_path, two_frames, session_faults=True) as (ws, outcome):
            await ws.send_bytes(BAD_INNER)
            await ws.send_bytes(encode(Envelope(session=7, message=Ping(nonce=1))))  # type: ignore[arg-type]
            assert await outcome == (42, Envelope(session=7, message=Ping(nonce=1)))  # type: ignore[arg-type]

    asyncio.run(go())


@pytest.mark.parametrize("frame", [BAD_INNER, msgpack.packb(["data", -1, b""])])
def test_without_session_faults_a_bad_frame_closes_and_says_why(
    tmp_path: Path, frame: bytes
) -> None:
    async def go() -> None:
        async with served(tmp_path, two_frames) as (ws, outcome):
            await ws.send_bytes(frame)
            close = await closed_with(ws)
            assert isinstance(close, Close) and close.reason == CloseReason.PROTOCOL_ERROR
            assert "stream: expected unsigned int" in close.message
            assert isinstance(await outcome, ProtocolViolation)

    asyncio.run(go())
