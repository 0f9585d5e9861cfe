"""A port of a pod on 127.0.0.1, through a kube-apiserver's `pods/portforward` over WebSocket
(subprotocol `v4.channel.k8s.io`, as kubernetes_asyncio and the kubelet speak it).

Each connection accepted on the local port opens one WebSocket with `open_stream` (who asks
it, with which TLS and credentials, is the caller's) to
``/api/v1/namespaces/NS/pods/POD/portforward?ports=PORT``. Channel 0 carries the
connection's bytes, channel 1 the server's errors; every binary message starts with its
channel's byte, and the first message of each channel from the server is the port as 2
little-endian bytes, which is dropped. Either side ending ends the connection. The last
failure to open a stream, or the pod's error, is kept in `failure` (one line) and logged.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable
from urllib.parse import quote

import aiohttp

from podtap.net.tasks import TaskSet

__all__ = ["PROTOCOL", "ForwardListener", "portforward_path"]

log = logging.getLogger(__name__)
PROTOCOL = "v4.channel.k8s.io"
DATA, ERROR = 0, 1

StreamOpener = Callable[[], Awaitable[aiohttp.ClientWebSocketResponse]]


def portforward_path(namespace: str, pod: str, port: int) -> str:
    """The API server's path of a port-forward to `port` of `pod`."""
    return f"/api/v1/namespaces/{quote(namespace)}/pods/{quote(pod)}/portforward?ports={port}"


class ForwardListener:
    """127.0.0.1:`local_port`, each connection relayed over a stream of `open_stream`."""

    def __init__(
        self,
        open_stream: StreamOpener,
        *,
        label: str,
        on_failure: Callable[[str], None] | None = None,
    ) -> None:
        """`on_failure`: told each failure instead of the log (a client says it once)."""
        self._open_stream = open_stream
        self._on_failure = on_failure
        self.label = label
        self._server: asyncio.Server | None = None
        self._tasks = TaskSet()
        self.local_port = 0
        self.failure: str | None = None

    async def start(self) -> int:
        """Listen on 127.0.0.1 (a free port, returned)."""
        self._server = await asyncio.start_server(self._accepted, "127.0.0.1", 0)
        self.local_port = int(self._server.sockets[0].getsockname()[1])
        return self.local_port

    async def close(self) -> None:
        if self._server is not None:
            self._server.close()
            self._server = None
        await self._tasks.close()

    def _accepted(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self._tasks.spawn(self._relay(reader, writer), name=f"port-forward {self.label}")

    def _failed(self, why: str) -> None:
        self.failure = why
        if self._on_failure is not None:
            self._on_failure(why)
        else:
            log.warning("port-forward to %s: %s", self.label, why)

    async def _relay(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            ws = await self._open_stream()
        except (aiohttp.ClientError, OSError, ConnectionError) as exc:
            self._failed(str(exc))
            writer.close()
            return
        upstream = self._tasks.spawn(self._upstream(ws, reader), name=f"to {self.label}")
        try:
            await self._downstream(ws, writer)
        finally:
            upstream.cancel()
            with contextlib.suppress(Exception):
                await ws.close()
            writer.close()

    @staticmethod
    async def _upstream(ws: aiohttp.ClientWebSocketResponse, reader: asyncio.StreamReader) -> None:
        with contextlib.suppress(OSError, ConnectionError, RuntimeError):
            while chunk := await reader.read(65536):
                await ws.send_bytes(bytes([DATA]) + chunk)
        with contextlib.suppress(Exception):
            await ws.close()

    async def _downstream(
        self, ws: aiohttp.ClientWebSocketResponse, writer: asyncio.StreamWriter
    ) -> None:
        prefix = {DATA: 2, ERROR: 2}  # bytes of the port still to drop, per channel
        async for msg in ws:
            if msg.type != aiohttp.WSMsgType.BINARY or not msg.data:
                break
            channel, data = msg.data[0], msg.data[1:]
            skip = min(prefix.get(channel, 0), len(data))
            prefix[channel] = prefix.get(channel, 0) - skip
            data = data[skip:]
            if channel == ERROR and data:
                self._failed(data.decode(errors="replace"))
                return
            if channel == DATA and data:
                writer.write(data)
                await writer.drain()
