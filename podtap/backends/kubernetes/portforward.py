"""A port of a pod on 127.0.0.1, through the API server's `pods/portforward`: how an operator
outside the cluster (a developer's machine, a test) reaches agent pods it cannot route to.

The relay is `podtap.net.pod_forward`'s; each stream is a WebSocket of kubernetes_asyncio's
client session, so its TLS and credentials.
"""

from __future__ import annotations

import aiohttp
from kubernetes_asyncio.client import ApiClient

from podtap.net.pod_forward import PROTOCOL, ForwardListener, portforward_path

__all__ = ["PortForward"]


class PortForward(ForwardListener):
    def __init__(self, api: ApiClient, *, namespace: str, pod: str, port: int) -> None:
        super().__init__(self._open, label=f"{namespace}/{pod}:{port}")
        self._api = api
        self.namespace, self.pod, self.port = namespace, pod, port

    async def _open(self) -> aiohttp.ClientWebSocketResponse:
        headers: dict[str, str] = {}
        await self._api.update_params_for_auth(headers, [], ["BearerToken"])
        url = str(self._api.configuration.host).rstrip("/")
        url += portforward_path(self.namespace, self.pod, self.port)
        session: aiohttp.ClientSession = self._api.rest_client.pool_manager
        return await session.ws_connect(
            url, headers=headers, protocols=(PROTOCOL,), max_msg_size=0, autoping=True
        )
