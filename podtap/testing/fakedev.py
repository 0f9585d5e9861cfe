"""A developer's app as a session sees it: answers stolen HTTP requests, for tests."""

from __future__ import annotations

import hashlib
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field

from podtap.core.protocol import (
    BodyChunk,
    BodyEnd,
    Data,
    HttpRequestHead,
    HttpResponseHead,
    StreamClose,
)
from podtap.testing.agentproc import SessionPeer


@dataclass
class Received:
    head: HttpRequestHead
    size: int = 0
    digest: hashlib._Hash = field(default_factory=hashlib.sha256)
    body: bytearray = field(default_factory=bytearray)

    def header(self, name: bytes) -> bytes | None:
        return next((v for k, v in self.head.headers if k.lower() == name.lower()), None)


Reply = tuple[int, list[tuple[bytes, bytes]], bytes]
"""Status, headers, body."""
TrailedReply = tuple[int, list[tuple[bytes, bytes]], bytes, list[tuple[bytes, bytes]]]
"""Status, headers, body, trailers (e.g. ``grpc-status``)."""
Responder = Callable[[Received], Awaitable[Reply | TrailedReply]]


async def serve_requests(
    peer: SessionPeer,
    respond: Responder,
    *,
    keep: int = 1 << 20,
    seen: list[Received] | None = None,
) -> None:
    """Answer every request stolen for `peer` until cancelled."""
    exchanges: dict[tuple[int, int], Received] = {}
    while True:
        msg = await peer.inbox.get()
        if isinstance(msg, HttpRequestHead):
            exchanges[(msg.stream, msg.request)] = Received(msg)
        elif isinstance(msg, BodyChunk):
            ex = exchanges[(msg.stream, msg.request)]
            ex.size += len(msg.data)
            ex.digest.update(msg.data)
            if len(ex.body) < keep:
                ex.body += msg.data[: keep - len(ex.body)]
            await peer.credit(msg.stream, len(msg.data))
        elif isinstance(msg, BodyEnd):
            ex = exchanges.pop((msg.stream, msg.request))
            if seen is not None:
                seen.append(ex)
            reply = await respond(ex)
            status, headers, body = reply[:3]
            trailers = reply[3] if len(reply) == 4 else []
            headers = [*headers, (b"content-length", str(len(body)).encode())]
            await peer.send(
                HttpResponseHead(
                    stream=msg.stream,
                    request=msg.request,
                    status=status,
                    reason="OK",
                    headers=tuple(headers),
                )
            )
            if body:
                await peer.send_flow(BodyChunk(stream=msg.stream, request=msg.request, data=body))
            await peer.send(
                BodyEnd(stream=msg.stream, request=msg.request, trailers=tuple(trailers))
            )
        elif isinstance(msg, StreamClose):
            exchanges = {k: v for k, v in exchanges.items() if k[0] != msg.stream}


def text_reply(text: str) -> Responder:
    async def respond(ex: Received) -> Reply:
        return 200, [(b"content-type", b"text/plain")], text.encode()

    return respond


async def serve_connections(peer: SessionPeer, body: bytes) -> None:
    """Answer every whole stolen connection (unfiltered steal) with one HTTP response."""
    response = (
        b"HTTP/1.1 200 OK\r\nContent-Length: %d\r\nConnection: close\r\n\r\n" % len(body)
    ) + body
    answered: set[int] = set()
    while True:
        msg = await peer.inbox.get()
        if isinstance(msg, Data) and msg.data and msg.stream not in answered:
            answered.add(msg.stream)
            await peer.credit(msg.stream, len(msg.data))
            await peer.send(Data(stream=msg.stream, data=response))
            await peer.send(StreamClose(stream=msg.stream))
