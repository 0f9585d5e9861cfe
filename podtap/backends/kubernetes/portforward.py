"""A port of a pod on 127.0.0.1, through the API server's `pods/portforward`: how an operator
outside the cluster (a developer's machine, a test) reaches agent pods it cannot route to.

Each connection accepted on the local port opens one WebSocket (subprotocol
`v4.channel.k8s.io`, kubernetes_asyncio's client session, so its TLS and credentials) to
``/api/v1/namespaces/NS/pods/POD/portforward?ports=PORT``. Channel 0 carries the
connection's bytes, channel 1 the server's errors; every binary message starts with its
channel's byte, and the first message of each channel from the server is the port as 2
little-endian bytes, which is dropped. Either side ending ends the connection.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from urllib.parse import quote

import aiohttp
from kubernetes_asyncio.client import ApiClient

from podtap.net.tasks import TaskSet

__all__ = ["PortForward"]

log = logging.getLogger(__name__)
PROTOCOL = "v4.channel.k8s.io"
DATA, ERROR = 0, 1


class PortForward:
    def __init__(self, api: ApiClient, *, namespace: str, pod: str, port: int) -> None:
        self._api = api
        self.namespace, self.pod, self.port = namespace, pod, port
        self._server: asyncio.Server | None = None
        self._tasks = TaskSet()
        self.local_port = 0

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
        self._tasks.spawn(self._relay(reader, writer), name=f"port-forward {self.pod}")

    async def _open(self) -> aiohttp.ClientWebSocketResponse:
        path = f"/api/v1/namespaces/{quote(self.namespace)}/pods/{quote(self.pod)}/portforward"
        headers: dict[str, str] = {}
        await self._api.update_params_for_auth(headers, [], ["BearerToken"])
        url = str(self._api.configuration.host).rstrip("/") + f"{path}?ports={self.port}"
        session: aiohttp.ClientSession = self._api.rest_client.pool_manager
        return await session.ws_connect(
            url, headers=headers, protocols=(PROTOCOL,), max_msg_size=0, autoping=True
        )

    async def _relay(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            ws = await self._open()
        except (aiohttp.ClientError, OSError) as exc:
            log.warning("port-forward to %s/%s:%d: %s", self.namespace, self.pod, self.port, exc)
            writer.close()
            return
        upstream = self._tasks.spawn(self._upstream(ws, reader), name=f"to {self.pod}")
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
                log.warning("port-forward to %s/%s: %s", self.namespace, self.pod, data.decode())
                return
            if channel == DATA and data:
                writer.write(data)
                await writer.drain()
