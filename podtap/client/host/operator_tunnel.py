"""The operator's own API over a port-forward to its pod: an `OperatorAddress` whose
connections aiohttp makes to a 127.0.0.1 listener, each relayed as one `pods/portforward`
stream through the user's API server (`podtap.net.pod_forward`), so HTTP, TLS and the
session's WebSocket run over it unchanged. TLS is verified against the operator's CA and its
Service's name (the URL's host); the bearer token is the kubeconfig's. `operator_forward`
finds what to forward to.
"""

from __future__ import annotations

import socket
import ssl
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field

import aiohttp
from aiohttp.abc import AbstractResolver, ResolveResult

from podtap.client.host import kube_refusals as lines
from podtap.client.host.kube_address import Credentials, KubeAddress
from podtap.client.host.operator_api import OperatorAddress, OperatorUnavailable
from podtap.net.pod_forward import PROTOCOL, ForwardListener, portforward_path


@dataclass(frozen=True, kw_only=True)
class Found:
    """The operator's Service and the pod behind it."""

    namespace: str
    service: str
    pod: str
    port: int

    @property
    def host(self) -> str:
        return f"{self.service}.{self.namespace}.svc"  # a name of the chart's certificate


@dataclass
class Forwarding:
    """Where the forward goes now, and why it last failed (None: it has not)."""

    found: Found
    failure: str | None = None


@dataclass(frozen=True)
class ForwardAddress(OperatorAddress):
    """The operator's own API, over a port-forward to its pod (`found`, at first; after a
    failure, each new connection pool asks `relocate` for the Service's ready pod again,
    so a client that reconnects follows a new leader)."""

    found: Found = field(kw_only=True)
    credentials: Credentials = field(compare=False, kw_only=True)
    ca_pem: str = field(compare=False, kw_only=True, repr=False)
    relocate: Callable[[], Awaitable[Found]] = field(compare=False, kw_only=True, repr=False)
    now: Forwarding = field(init=False, compare=False, repr=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "now", Forwarding(self.found))

    def connector(self) -> aiohttp.BaseConnector:
        return _ForwardConnector(self)

    async def headers(self) -> dict[str, str]:
        token = await self.credentials.authorization()
        return {"Authorization": token} if token else {}

    async def renew(self) -> bool:
        return await KubeAddress(self.value, credentials=self.credentials).renew()

    def unreachable(self, why: BaseException | str) -> OperatorUnavailable:
        """The last failure of the forward (its line), else what aiohttp saw."""
        return OperatorUnavailable(self.now.failure or self.cannot_reach(why))

    def cannot_reach(self, why: BaseException | str) -> str:
        f = self.now.found
        return (
            f"cannot reach the operator pod {f.namespace}/{f.pod} by port-forward through "
            f"{self.credentials.server}: {why}"
        )


class _Resolver(AbstractResolver):
    """Every name is the forward's local listener (started at the first connection)."""

    def __init__(self, connector: _ForwardConnector) -> None:
        self._connector = connector

    async def resolve(
        self, host: str, port: int = 0, family: socket.AddressFamily = socket.AF_INET
    ) -> list[ResolveResult]:
        local = await self._connector.listening()
        flags = socket.AI_NUMERICHOST
        return [
            ResolveResult(
                hostname=host,
                host="127.0.0.1",
                port=local,
                family=socket.AF_INET,
                proto=0,
                flags=flags,
            )
        ]

    async def close(self) -> None:
        return None


class _ForwardConnector(aiohttp.TCPConnector):
    """TLS to the operator (its CA, its Service's name) over the forward's listener."""

    def __init__(self, address: ForwardAddress) -> None:
        self._address = address
        self._kube = KubeAddress(address.credentials.server, credentials=address.credentials)
        self._listener: ForwardListener | None = None
        self._api: aiohttp.ClientSession | None = None
        context = ssl.create_default_context(cadata=address.ca_pem)
        super().__init__(ssl=context, resolver=_Resolver(self), use_dns_cache=False)

    async def listening(self) -> int:
        if self._listener is None:
            now = self._address.now
            if now.failure is not None:  # the pod may be gone: ask again which one serves
                now.found = await self._address.relocate()
                now.failure = None
            f = now.found
            self._api = aiohttp.ClientSession(connector=self._kube.connector())
            self._listener = ForwardListener(
                self._open, label=f"{f.namespace}/{f.pod}:{f.port}", on_failure=self._failed
            )
            await self._listener.start()
        return self._listener.local_port

    async def _open(self) -> aiohttp.ClientWebSocketResponse:
        f, server = self._address.now.found, self._address.credentials.server
        assert self._api is not None
        url = server + portforward_path(f.namespace, f.pod, f.port)
        try:
            ws: aiohttp.ClientWebSocketResponse = await self._api.ws_connect(
                url,
                headers=await self._kube.headers(),
                protocols=(PROTOCOL,),
                max_msg_size=0,
                **self._kube.request_options(),
            )
            return ws
        except aiohttp.WSServerHandshakeError as exc:
            line = lines.forward_stream_refused(
                exc.status,
                server=server,
                namespace=f.namespace,
                pod=f.pod,
                role=f"{f.service}-user",
            )
            self._address.now.failure = line
            raise OperatorUnavailable(line) from None

    def _failed(self, why: str) -> None:
        """The pod's error, or a stream that did not open, for `unreachable` to say."""
        now = self._address.now
        if now.failure != why:  # (a refusal is its line already)
            now.failure = self._address.cannot_reach(why)

    async def close(self, *, abort_ssl: bool = False) -> None:
        await super().close(abort_ssl=abort_ssl)
        if self._listener is not None:
            await self._listener.close()
        if self._api is not None:
            await self._api.close()
