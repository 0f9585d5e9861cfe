"""The operator reached without an APIService: a `pods/portforward` to its pod, as kubectl
port-forward would, through the API server of the user's kubeconfig.

The operator is the Service of `operator-namespace` labelled as the chart labels it
(`SELECTOR`); its ready endpoint is the pod to forward to (with 2+ replicas the Service
selects the leader only); its CA is the ConfigMap `<service>-ca` the chart publishes. The
calls then go over `operator_tunnel`. Past the aggregator the operator sees no front-proxy
certificate: the caller proves who they are with the bearer token of their kubeconfig, which
the operator has the API server review; a kubeconfig without one is refused here, in a line.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from typing import Any

import aiohttp

from podtap.client.host import kube_refusals as lines
from podtap.client.host.kube_address import Credentials, KubeAddress, KubeconfigError
from podtap.client.host.operator_api import OperatorRefused, OperatorUnavailable
from podtap.client.host.operator_tunnel import ForwardAddress, Found

SELECTOR = "app.kubernetes.io/part-of=podtap,app.kubernetes.io/component=operator"
PORT_NAME = "https"  # the chart's Service port, and the name its Endpoints carry


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


UNKNOWN_ROLE = "<release>-podtap-operator-user"  # until the Service names the release


@dataclass(frozen=True)
class _Lookup:
    """GETs in the operator's namespace on the user's API server, refusals as one line."""

    kube: KubeAddress
    namespace: str
    timeout: float

    @asynccontextmanager
    async def session(self) -> AsyncIterator[aiohttp.ClientSession]:
        limit = aiohttp.ClientTimeout(total=self.timeout)
        connector = self.kube.connector()
        try:
            async with aiohttp.ClientSession(connector=connector, timeout=limit) as http:
                yield http
        except (aiohttp.ClientConnectionError, TimeoutError) as exc:
            why = str(exc) or f"no answer within {self.timeout} s"
            raise self.kube.unreachable(why) from None

    async def get(self, http: aiohttp.ClientSession, path: str, *, role: str) -> Any:
        url = self.kube.url(f"/api/v1/namespaces/{self.namespace}/{path}")
        headers = await self.kube.headers()
        async with http.get(url, headers=headers, **self.kube.request_options()) as r:
            try:
                body = await r.json(content_type=None)
            except ValueError:
                body = None
            if r.status >= 400:
                text = lines.forward_refused(
                    r.status,
                    body,
                    server=self.kube.value,
                    namespace=self.namespace,
                    role=role,
                    reason=r.reason or "",
                )
                raise OperatorRefused(r.status, text)
            return body

    async def endpoint(self, http: aiohttp.ClientSession, service: str) -> Found:
        endpoints = await self.get(http, f"endpoints/{service}", role=f"{service}-user")
        pod, port = ready_endpoint(endpoints, namespace=self.namespace, service=service)
        return Found(namespace=self.namespace, service=service, pod=pod, port=port)


async def find_operator(
    credentials: Credentials, *, namespace: str, timeout: float
) -> ForwardAddress:
    """The operator of `namespace` behind a port-forward (OperatorRefused, OperatorUnavailable
    or KubeconfigError with the one line of what is missing)."""
    lookup = _Lookup(KubeAddress(credentials.server, credentials=credentials), namespace, timeout)
    async with lookup.session() as http:
        services = await lookup.get(http, f"services?labelSelector={SELECTOR}", role=UNKNOWN_ROLE)
        service = operator_service(services, namespace=namespace)
        if await credentials.authorization() is None:
            raise KubeconfigError(lines.certificate_only(credentials.where))
        found = await lookup.endpoint(http, service)
        ca = await lookup.get(http, f"configmaps/{service}-ca", role=f"{service}-user")
    ca_pem = str(((ca or {}).get("data") or {}).get("ca.crt") or "")
    if not ca_pem:
        raise OperatorUnavailable(f"the ConfigMap {namespace}/{service}-ca has no ca.crt")

    async def relocate() -> Found:
        """The Service's ready pod now (another, once a new leader took over)."""
        async with lookup.session() as http:
            return await lookup.endpoint(http, service)

    return ForwardAddress(
        f"https://{found.host}",
        found=found,
        credentials=credentials,
        ca_pem=ca_pem,
        relocate=relocate,
    )
