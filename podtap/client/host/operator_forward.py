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
