"""The operator reached without an APIService: a `pods/portforward` to its pod, as kubectl
port-forward would, through the API server of the user's kubeconfig.

The operator is the Service of `operator-namespace` labelled as the chart labels it
(`SELECTOR`); its ready endpoint is the pod to forward to (with 2+ replicas the Service
selects the leader only). Every connection aiohttp makes goes to a 127.0.0.1 listener whose
connections are each one port-forward stream (`podtap.net.pod_forward`), so HTTP, TLS and the
session's WebSocket run over it unchanged. TLS is verified against the CA the chart publishes
in the ConfigMap `<service>-ca` and the name `SERVICE.NAMESPACE.svc`. Past the aggregator the
operator sees no front-proxy certificate: the caller proves who they are with the bearer
token of their kubeconfig, which the operator has the API server review.
"""

from __future__ import annotations

import socket
import ssl
from dataclasses import dataclass, field
from typing import Any

import aiohttp
from aiohttp.abc import AbstractResolver, ResolveResult

from podtap.client.host import kube_refusals as lines
from podtap.client.host.kube_address import Credentials, KubeAddress, KubeconfigError
from podtap.client.host.operator_api import OperatorAddress, OperatorRefused, OperatorUnavailable
from podtap.net.pod_forward import PROTOCOL, ForwardListener, portforward_path

SELECTOR = "app.kubernetes.io/part-of=podtap,app.kubernetes.io/component=operator"
PORT_NAME = "https"  # the chart's Service port, and the name its Endpoints carry


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


def operator_service(services: Any, *, namespace: str) -> str:
    """The name of the one operator Service of a `services` list (pure)."""
    items = (services or {}).get("items") or []
    names = sorted(
        s["metadata"]["name"]
        for s in items
        if any(p.get("name") == PORT_NAME for p in (s.get("spec") or {}).get("ports") or [])
    )
    if not names:
        raise OperatorRefused(404, lines.no_operator_service(namespace, SELECTOR))
    if len(names) > 1:
        raise OperatorRefused(
            409,
            f"several podtap operators in namespace {namespace} ({', '.join(names)}): "
            "uninstall all but one (helm list -n " + namespace + ")",
        )
    return str(names[0])


def ready_endpoint(endpoints: Any, *, namespace: str, service: str) -> tuple[str, int]:
    """The pod and port of the Service's first ready `https` endpoint (pure)."""
    for subset in (endpoints or {}).get("subsets") or []:
        ports = [p["port"] for p in subset.get("ports") or [] if p.get("name") == PORT_NAME]
        for address in subset.get("addresses") or []:
            ref = address.get("targetRef") or {}
            if ports and ref.get("kind") == "Pod" and ref.get("name"):
                return str(ref["name"]), int(ports[0])
    raise OperatorUnavailable(
        f"the operator Service {namespace}/{service} has no ready pod: the operator is down "
        f"or starting; see kubectl -n {namespace} get pods -l app.kubernetes.io/component=operator"
    )


async def find_operator(
    credentials: Credentials, *, namespace: str, timeout: float
) -> ForwardAddress:
    """The operator of `namespace` behind a port-forward (OperatorRefused, OperatorUnavailable
    or KubeconfigError with the one line of what is missing)."""
    kube = KubeAddress(credentials.server, credentials=credentials)
    role = "<release>-podtap-operator-user"  # until its Service names the release
    limit = aiohttp.ClientTimeout(total=timeout)
    try:
        async with aiohttp.ClientSession(connector=kube.connector(), timeout=limit) as http:

            async def get(path: str) -> Any:
                headers = await kube.headers()
                url = credentials.server + path
                async with http.get(url, headers=headers, **kube.request_options()) as r:
                    try:
                        body = await r.json(content_type=None)
                    except ValueError:
                        body = None
                    if r.status >= 400:
                        text = lines.forward_refused(
                            r.status,
                            body,
                            server=credentials.server,
                            namespace=namespace,
                            role=role,
                            reason=r.reason or "",
                        )
                        raise OperatorRefused(r.status, text)
                    return body

            base = f"/api/v1/namespaces/{namespace}"
            services = await get(f"{base}/services?labelSelector={SELECTOR}")
            service = operator_service(services, namespace=namespace)
            role = f"{service}-user"
            if await credentials.authorization() is None:
                raise KubeconfigError(lines.certificate_only(credentials.where))
            pod, port = ready_endpoint(
                await get(f"{base}/endpoints/{service}"), namespace=namespace, service=service
            )
            ca = await get(f"{base}/configmaps/{service}-ca")
    except (aiohttp.ClientConnectionError, TimeoutError) as exc:
        raise kube.unreachable(str(exc) or f"no answer within {timeout} s") from None
    ca_pem = str(((ca or {}).get("data") or {}).get("ca.crt") or "")
    if not ca_pem:
        raise OperatorUnavailable(f"the ConfigMap {namespace}/{service}-ca has no ca.crt")
    found = Found(namespace=namespace, service=service, pod=pod, port=port)
    return ForwardAddress(
        f"https://{found.host}", found=found, credentials=credentials, ca_pem=ca_pem
    )


@dataclass(frozen=True)
class ForwardAddress(OperatorAddress):
    """The operator's own API, over a port-forward to its pod (`found`)."""

    found: Found = field(kw_only=True)
    credentials: Credentials = field(compare=False, kw_only=True)
    ca_pem: str = field(compare=False, kw_only=True, repr=False)
    failures: list[str] = field(default_factory=list, compare=False, kw_only=True, repr=False)

    def connector(self) -> aiohttp.BaseConnector:
        return _ForwardConnector(self)

    async def headers(self) -> dict[str, str]:
        token = await self.credentials.authorization()
        return {"Authorization": token} if token else {}

    async def renew(self) -> bool:
        return await KubeAddress(self.value, credentials=self.credentials).renew()

    def unreachable(self, why: BaseException | str) -> OperatorUnavailable:
        """The last failure of the forward (its line), else what aiohttp saw."""
        if self.failures:
            return OperatorUnavailable(self.failures[-1])
        return OperatorUnavailable(self.cannot_reach(why))

    def cannot_reach(self, why: BaseException | str) -> str:
        f = self.found
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
            f = self._address.found
            self._api = aiohttp.ClientSession(connector=self._kube.connector())
            self._listener = ForwardListener(
                self._open, label=f"{f.namespace}/{f.pod}:{f.port}", on_failure=self._failed
            )
            await self._listener.start()
        return self._listener.local_port

    async def _open(self) -> aiohttp.ClientWebSocketResponse:
        f, server = self._address.found, self._address.credentials.server
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
            self._address.failures.append(line)
            raise OperatorUnavailable(line) from None

    def _failed(self, why: str) -> None:
        """The pod's error, or a stream that did not open, for `unreachable` to say."""
        failures = self._address.failures
        if not failures or failures[-1] != why:  # (a refusal is its line already)
            failures.append(self._address.cannot_reach(why))

    async def close(self, *, abort_ssl: bool = False) -> None:
        await super().close(abort_ssl=abort_ssl)
        if self._listener is not None:
            await self._listener.close()
        if self._api is not None:
            await self._api.close()
