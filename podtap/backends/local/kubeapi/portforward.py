"""`pods/portforward` as kubectl 1.37 speaks it: SPDY tunnelled in a WebSocket.

kubectl upgrades to a WebSocket with subprotocol `SPDY/3.1+portforward.k8s.io` and speaks
SPDY/3.1 (`spdy.py`) in its binary messages, as it would to a kubelet. For each local
connection it opens two streams with the same `requestID`: an `error` stream (which it
half-closes at once and reads to the end: any text there is an error) and a `data` stream
carrying the connection's bytes. The node connects from its own namespace to the pod's
address and port, so traffic enters the pod through its veth, as `podtap local
port-forward`'s does. Each side's end is a FIN on the data stream; when the pod's side ends,
both streams are finished, which is what kubectl waits for before closing its connection.
"""

from __future__ import annotations

import asyncio
import contextlib
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from aiohttp import WSMsgType, web

from podtap.backends.local.kubeapi import portforward_ws, spdy
from podtap.backends.local.kubeapi.status import bad_request
from podtap.net.tasks import TaskSet

if TYPE_CHECKING:
    from podtap.backends.local.kubeapi.pod_access import PodAccess

PROTOCOL = "SPDY/3.1+portforward.k8s.io"
CONNECT_TIMEOUT = 5.0


@dataclass
class _Request:
    """One forwarded connection: its two streams and the pod side once connected."""

    port: int
    error: int = 0
    data: int = 0
    writer: asyncio.StreamWriter | None = None
    pending: list[bytes] = field(default_factory=list)
    client_done: bool = False


class _Session:
    def __init__(self, ws: web.WebSocketResponse, access: PodAccess, namespace: str, pod: str):
        self.ws, self.access, self.namespace, self.pod = ws, access, namespace, pod
        self.conn = spdy.Connection()
        self.requests: dict[str, _Request] = {}
        self.by_stream: dict[int, _Request] = {}
        self.tasks = TaskSet()

    async def send(self, frame: bytes) -> None:
        with contextlib.suppress(ConnectionError, RuntimeError):
            await self.ws.send_bytes(frame)

    async def run(self) -> None:
        try:
            async for msg in self.ws:
                if msg.type in (WSMsgType.CLOSE, WSMsgType.ERROR):
                    break
                if msg.type == WSMsgType.BINARY:
                    for event in self.conn.receive(msg.data):
                        await self.on(event)
        except spdy.ProtocolError:
            pass
        finally:
            await self.tasks.close()
            for request in self.requests.values():
                if request.writer is not None:
                    request.writer.close()

    async def on(self, event: spdy.Event) -> None:
        if isinstance(event, spdy.Ping):
            await self.send(self.conn.ping(event.ping_id))
        elif isinstance(event, spdy.SynStream):
            await self.send(self.conn.syn_reply(event.stream_id))
            self.opened(event)
        elif isinstance(event, spdy.Data):
            await self.received(event)
        elif isinstance(event, spdy.Reset):
            found = self.by_stream.get(event.stream_id)
            if found is not None and found.writer is not None:
                found.writer.close()

    def opened(self, event: spdy.SynStream) -> None:
        h = event.headers
        try:
            port = int(h.get("port", ""))
        except ValueError:
            port = 0
        request = self.requests.setdefault(h.get("requestid", ""), _Request(port))
        self.by_stream[event.stream_id] = request
        if h.get("streamtype") == "error":
            request.error = event.stream_id
        elif h.get("streamtype") == "data":
            request.data = event.stream_id
        if request.error and request.data:
            self.tasks.spawn(self.forward(request), name=f"port-forward {self.pod}:{port}")

    async def received(self, event: spdy.Data) -> None:
        request = self.by_stream.get(event.stream_id)
        if request is None or event.stream_id != request.data:
            return
        if request.writer is None:
            request.pending.append(event.data)
            request.client_done = request.client_done or event.fin
            return
        if event.data:
            request.writer.write(event.data)
        if event.fin and request.writer.can_write_eof():
            with contextlib.suppress(OSError):
                request.writer.write_eof()

    async def forward(self, request: _Request) -> None:
        try:
            ip = self.access.pod_ip(self.namespace, self.pod)
            reader, writer = await asyncio.wait_for(
                asyncio.open_connection(ip, request.port), CONNECT_TIMEOUT
            )
        except (LookupError, OSError, TimeoutError) as e:
            why = f"error forwarding port {request.port} to pod {self.pod}: {e}"
            await self.send(self.conn.data(request.error, why.encode(), fin=True))
            await self.send(self.conn.data(request.data, b"", fin=True))
            return
        request.writer = writer
        for chunk in request.pending:
            writer.write(chunk)
        if request.client_done and writer.can_write_eof():
            writer.write_eof()
        try:
            while chunk := await reader.read(65536):
                await self.send(self.conn.data(request.data, chunk))
        except OSError:
            pass
        finally:
            writer.close()
        await self.send(self.conn.data(request.data, b"", fin=True))
        await self.send(self.conn.data(request.error, b"", fin=True))


async def serve(
    request: web.Request, access: PodAccess, namespace: str, pod: str
) -> web.StreamResponse:
    ws = web.WebSocketResponse(protocols=(PROTOCOL,), max_msg_size=0)
    if not ws.can_prepare(request).ok:
        raise bad_request(f"Upgrade request required: pods/portforward speaks {PROTOCOL}")
    try:
        ip = access.pod_ip(namespace, pod)
    except LookupError as e:
        raise bad_request(str(e)) from e
    offered = request.headers.get("Sec-WebSocket-Protocol", "")
    if PROTOCOL not in (p.strip() for p in offered.split(",")):  # the kubelet's plain channels
        return await portforward_ws.serve(request, ip, pod)
    await ws.prepare(request)
    await _Session(ws, access, namespace, pod).run()
    return ws
