"""A small aiohttp app for tests and benchmarks: echo, big uploads/downloads, WebSocket,
and an HTTP/2 cleartext (prior knowledge) server that also speaks enough gRPC framing.

`python -m podtap.testing.testapp --port 8000 [--echo-port 8001] [--h2-port 8002] [--name NAME]`"""

from __future__ import annotations

import argparse
import asyncio
import hashlib
import socket
import struct
from collections.abc import Awaitable, Callable
from typing import Any

from aiohttp import WSMsgType, web
from h2.config import H2Configuration
from h2.connection import H2Connection
from h2.events import (
    ConnectionTerminated,
    DataReceived,
    RequestReceived,
    StreamEnded,
    StreamReset,
)
from h2.exceptions import NoSuchStreamError, ProtocolError

CHUNK = b"0123456789abcdef" * 4096  # 64 KiB


def make_app(name: str) -> web.Application:
    async def whoami(request: web.Request) -> web.Response:
        return web.json_response(
            {"app": name, "path": request.path_qs, "headers": dict(request.headers)}
        )

    async def upload(request: web.Request) -> web.Response:
        digest, size = hashlib.sha256(), 0
        async for chunk in request.content.iter_any():
            digest.update(chunk)
            size += len(chunk)
        return web.json_response(
            {"app": name, "path": request.path_qs, "size": size, "sha256": digest.hexdigest()}
        )

    async def download(request: web.Request) -> web.StreamResponse:
        size = int(request.query.get("size", "0"))
        response = web.StreamResponse()
        response.content_length = size
        await response.prepare(request)
        sent = 0
        while sent < size:
            piece = CHUNK[: size - sent]
            await response.write(piece)
            sent += len(piece)
        await response.write_eof()
        return response

    async def ws(request: web.Request) -> web.WebSocketResponse:
        sock = web.WebSocketResponse()
        await sock.prepare(request)
        async for msg in sock:
            if msg.type == WSMsgType.TEXT:
                await sock.send_str(f"{name}: {msg.data}")
        return sock

    app = web.Application(client_max_size=1 << 30)
    app.add_routes(
        [
            web.get("/whoami", whoami),
            web.post("/upload", upload),
            web.get("/download", download),
            web.get("/ws", ws),
        ]
    )
    return app


class _UdpEcho(asyncio.DatagramProtocol):
    """UDP echo on the echo port: each datagram is sent back to its sender."""

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport

    def datagram_received(self, data: bytes, addr: tuple[str | Any, int]) -> None:
        self.transport.sendto(data, addr)  # type: ignore[attr-defined]


async def _echo(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    """Raw TCP echo: what arrives is sent back unchanged."""
    while data := await reader.read(65536):
        writer.write(data)
        await writer.drain()
    writer.close()


class _H2Answer:
    """One response of the HTTP/2 server: its body still to send, then its trailers."""

    def __init__(self, body: bytes, trailers: list[tuple[bytes, bytes]]) -> None:
        self.body = body
        self.trailers = trailers


def grpc_frame(message: bytes) -> bytes:
    """One uncompressed gRPC length-prefixed message."""
    return struct.pack("!BL", 0, len(message)) + message


class _H2Server:
    """One HTTP/2 (prior knowledge) client connection, served with h2.

    Every request is answered with ``"{name} h2 {path}"`` once it is complete; a request
    with ``content-type: application/grpc`` gets that text as one gRPC message and the
    trailers ``grpc-status: 0``. Request bodies are read and acknowledged as they come;
    response bodies go out as the client's flow-control windows allow."""

    def __init__(self, name: str, writer: asyncio.StreamWriter) -> None:
        self.name = name
        self.writer = writer
        self.conn = H2Connection(H2Configuration(client_side=False, header_encoding=None))
        self.heads: dict[int, dict[bytes, bytes]] = {}
        self.answers: dict[int, _H2Answer] = {}
        self.leaving = False

    async def run(self, reader: asyncio.StreamReader) -> None:
        self.conn.initiate_connection()
        await self._send()
        while data := await reader.read(65536):
            try:
                events = self.conn.receive_data(data)
            except ProtocolError:
                await self._send()
                return
            for event in events:
                if isinstance(event, ConnectionTerminated):
                    if event.error_code:
                        await self._send()
                        return
                    self.leaving = True  # GOAWAY: finish the streams already opened
                self._on_event(event)
            self._flush()
            await self._send()
            if self.leaving and not self.heads and not self.answers:
                return

    def _on_event(self, event: object) -> None:
        if isinstance(event, RequestReceived):
            self.heads[event.stream_id] = {bytes(k): bytes(v) for k, v in event.headers}
        elif isinstance(event, DataReceived):
            self.conn.acknowledge_received_data(event.flow_controlled_length, event.stream_id)
        elif isinstance(event, StreamEnded):
            self._answer(event.stream_id)
        elif isinstance(event, StreamReset):
            self.heads.pop(event.stream_id, None)
            self.answers.pop(event.stream_id, None)
        # WindowUpdated, RemoteSettingsChanged: _flush runs after every batch

    def _answer(self, stream_id: int) -> None:
        head = self.heads.pop(stream_id, None)
        if head is None:
            return
        text = f"{self.name} h2 {head.get(b':path', b'').decode()}".encode()
        if head.get(b"content-type", b"").startswith(b"application/grpc"):
            fields = [(b":status", b"200"), (b"content-type", b"application/grpc")]
            answer = _H2Answer(grpc_frame(text), [(b"grpc-status", b"0")])
        else:
            fields = [
                (b":status", b"200"),
                (b"content-type", b"text/plain"),
                (b"content-length", b"%d" % len(text)),
            ]
            answer = _H2Answer(text, [])
        try:
            self.conn.send_headers(stream_id, fields)
        except NoSuchStreamError:
            return
        self.answers[stream_id] = answer

    def _flush(self) -> None:
        """Send what the windows allow; end the streams whose body is all sent."""
        for stream_id, answer in list(self.answers.items()):
            try:
                while answer.body:
                    room = min(
                        self.conn.local_flow_control_window(stream_id),
                        self.conn.max_outbound_frame_size,
                    )
                    if room <= 0:
                        break
                    piece, answer.body = answer.body[:room], answer.body[room:]
                    self.conn.send_data(stream_id, piece)
                if answer.body:
                    continue
                if answer.trailers:
                    self.conn.send_headers(stream_id, answer.trailers, end_stream=True)
                else:
                    self.conn.end_stream(stream_id)
            except NoSuchStreamError:  # reset by the client meanwhile
                pass
            del self.answers[stream_id]

    async def _send(self) -> None:
        data = self.conn.data_to_send()
        if data:
            self.writer.write(data)
            await self.writer.drain()


def _h2_handler(
    name: str,
) -> Callable[[asyncio.StreamReader, asyncio.StreamWriter], Awaitable[None]]:
    async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            await _H2Server(name, writer).run(reader)
        except (ConnectionError, OSError):
            pass
        finally:
            writer.close()

    return handle


async def _serve(name: str, port: int, echo_port: int | None, h2_port: int | None) -> None:
    # The extra servers listen before the main one, which the readiness probe watches.
    if echo_port:
        await asyncio.start_server(_echo, port=echo_port)
        loop = asyncio.get_running_loop()
        await loop.create_datagram_endpoint(_UdpEcho, local_addr=("0.0.0.0", echo_port))
    if h2_port:
        await asyncio.start_server(_h2_handler(name), port=h2_port)
    runner = web.AppRunner(make_app(name), access_log=None)
    await runner.setup()
    await web.TCPSite(runner, port=port).start()
    await asyncio.Event().wait()


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--port", type=int, default=8000)
    parser.add_argument("--echo-port", type=int, default=None)
    parser.add_argument("--h2-port", type=int, default=None)
    parser.add_argument("--name", default=socket.gethostname())
    args = parser.parse_args()
    asyncio.run(_serve(args.name, args.port, args.echo_port, args.h2_port))


if __name__ == "__main__":
    main()
