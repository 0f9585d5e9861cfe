"""`pods/portforward` over a plain WebSocket, as the kubelet serves it to clients that do not
speak SPDY (kubernetes_asyncio, the Python and JavaScript clients).

The ports are in the query (`?ports=8080,9090`); each port `i` gets data channel `2i` and
error channel `2i+1`, and every binary message starts with its channel's byte. The server's
first message on each channel is the port as 2 little-endian bytes; after that, data
messages carry the connection's bytes and an error message is text for the client. One
WebSocket is one connection per port; closing it ends them (there is no half-close).
"""

from __future__ import annotations

import asyncio
import contextlib
import struct

from aiohttp import WSMsgType, web

from podtap.backends.local.kubeapi.status import bad_request
from podtap.net.tasks import TaskSet

PROTOCOLS = ("v4.channel.k8s.io", "portforward.k8s.io")
CONNECT_TIMEOUT = 5.0


def ports_of(request: web.Request) -> list[int]:
    """The ports of the query, as the kubelet reads them (repeated or comma-separated)."""
    try:
        ports = [int(p) for v in request.query.getall("ports", []) for p in v.split(",") if p]
    except ValueError:
        ports = [0]
    if not ports or not all(0 < p < 65536 for p in ports):
        raise bad_request("the ports query parameter must name ports 1-65535 (ports=8080)")
    return ports


async def serve(request: web.Request, ip: str, pod: str) -> web.StreamResponse:
    ports = ports_of(request)
    ws = web.WebSocketResponse(protocols=PROTOCOLS, max_msg_size=0)
    await ws.prepare(request)
    writers: dict[int, asyncio.StreamWriter] = {}
    tasks = TaskSet()
    try:
        for i, port in enumerate(ports):
            for channel in (2 * i, 2 * i + 1):
                await ws.send_bytes(bytes([channel]) + struct.pack("<H", port))
            try:
                reader, writer = await asyncio.wait_for(
                    asyncio.open_connection(ip, port), CONNECT_TIMEOUT
                )
            except (OSError, TimeoutError) as e:
                why = f"error forwarding port {port} to pod {pod}: {e}"
                await ws.send_bytes(bytes([2 * i + 1]) + why.encode())
                continue
            writers[2 * i] = writer
            tasks.spawn(_pump(ws, reader, 2 * i), name=f"port-forward {pod}:{port}")
        async for msg in ws:
            if msg.type != WSMsgType.BINARY or not msg.data:
                break
            found = writers.get(msg.data[0])
            if found is not None:
                found.write(msg.data[1:])
                with contextlib.suppress(ConnectionError):
                    await found.drain()
    finally:
        await tasks.close()
        for writer in writers.values():
            writer.close()
        await ws.close()
    return ws


async def _pump(ws: web.WebSocketResponse, reader: asyncio.StreamReader, channel: int) -> None:
    """The pod's bytes to the client; the WebSocket closes when the pod's side ends."""
    with contextlib.suppress(OSError, ConnectionError, RuntimeError):
        while chunk := await reader.read(65536):
            await ws.send_bytes(bytes([channel]) + chunk)
    with contextlib.suppress(ConnectionError, RuntimeError):
        await ws.close()
