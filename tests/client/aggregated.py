"""The operator behind an in-process kube-apiserver, as a Helm install puts it behind a real one.

The API server of `tests.kubeapi.server.in_thread`, given the front-proxy client certificate
the embedded cluster's node gives it, routes ``operator.podtap.dev/v1`` by an ``APIService``
to a Service whose Endpoints are 127.0.0.1:PORT, where the real operator API
(`podtap.operator.api.OperatorApi` over the in-memory cluster, fake agents in this process)
serves HTTPS and knows its callers as `podtap operator serve --kube` does: from the
X-Remote-* headers of a connection with a verified front-proxy certificate
(`podtap.operator.kube_identity`), admins by a SubjectAccessReview to the same API server.
Each request it gets is recorded with the X-Remote-User it carried and the common name of
the certificate the API server presented.
"""

from __future__ import annotations

import base64
import contextlib
import json
import socket
import ssl
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
from aiohttp import web
from kubernetes_asyncio.config.kube_config import new_client_from_config

from podtap.backends.kubernetes.access import SubjectAccessReviewer
from podtap.backends.kubernetes.rest import Rest
from podtap.backends.local.frontproxy import CLIENT_NAME, ensure_front_proxy
from podtap.backends.local.kubeapi import app as kubeapi_app
from podtap.backends.local.kubeapi.aggregation import FRONT_PROXY
from podtap.backends.local.kubeapi.app import Running
from podtap.backends.local.kubeapi.context import ApiContext
from podtap.backends.local.kubeapi.pki import ClusterCA
from podtap.core import operator_paths as paths
from podtap.core.kube.requestheader import RequestHeaderConfig
from podtap.operator.api import OperatorApi
from podtap.operator.kube_identity import FrontProxyIdentity, server_ssl
from podtap.operator.service import OperatorService, OperatorSettings
from tests.kubeapi.cli import run
from tests.kubeapi.server import in_thread
from tests.operator.inproc import OnePodCluster

SERVICE = "operator.podtap.svc"


@dataclass
class Aggregated:
    api: Running
    kubectl: Path
    listener: socket.socket
    server_ssl: ssl.SSLContext
    requestheader: RequestHeaderConfig
    endpoints: Path
    """The Endpoints object's manifest (to restore it once a test has removed it)."""
    seen: list[dict[str, Any]] = field(default_factory=list)

    def apply(self, *objects: dict[str, Any]) -> None:
        for obj in objects:
            run(self.kubectl, self.api, "apply", "-f", "-", stdin=json.dumps(obj))

    def kubectl_run(self, *args: str) -> str:
        return run(self.kubectl, self.api, *args).stdout


@contextlib.contextmanager
def front_proxied(pki: Path) -> Iterator[tuple[Running, bytes]]:
    """An in-process API server that presents a front-proxy certificate to aggregated
    servers (as the node's does); the front-proxy CA's PEM."""
    front, front_ca = ensure_front_proxy(pki)
    build = kubeapi_app.build_app

    def with_front_proxy(ctx: ApiContext) -> web.Application:
        app = build(ctx)
        app[FRONT_PROXY] = front
        return app

    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(kubeapi_app, "build_app", with_front_proxy)
        with in_thread() as running:
            yield running, front_ca


def _objects(*, port: int, ca_pem: bytes) -> list[dict[str, Any]]:
    meta = {"name": "operator", "namespace": "podtap"}
    return [
        {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "podtap"}},
        {
            "apiVersion": "v1",
            "kind": "Service",
            "metadata": meta,
            "spec": {"ports": [{"port": 443, "targetPort": port}]},
        },
        {
            "apiVersion": "v1",
            "kind": "Endpoints",
            "metadata": meta,
            "subsets": [{"addresses": [{"ip": "127.0.0.1"}], "ports": [{"port": port}]}],
        },
        {
            "apiVersion": "apiregistration.k8s.io/v1",
            "kind": "APIService",
            "metadata": {"name": f"{paths.VERSION}.{paths.GROUP}"},
            "spec": {
                "group": paths.GROUP,
                "version": paths.VERSION,
                "service": {"namespace": "podtap", "name": "operator", "port": 443},
                "caBundle": base64.b64encode(ca_pem).decode(),
                "groupPriorityMinimum": 1000,
                "versionPriority": 15,
            },
        },
    ]


@contextlib.contextmanager
def aggregated(kubectl: Path, tmp: Path) -> Iterator[Aggregated]:
    """The API server with the operator's APIService registered (the operator itself runs
    only inside `operator_running`)."""
    ca = ClusterCA.create(cluster="operator")
    pair = ca.serving(hosts=[SERVICE])
    pair.write(cert=tmp / "tls.crt", key=tmp / "tls.key")
    with front_proxied(tmp) as (running, front_ca), socket.create_server(("127.0.0.1", 0)) as sock:
        config = RequestHeaderConfig(client_ca_pem=front_ca.decode(), allowed_names=(CLIENT_NAME,))
        objects = _objects(port=sock.getsockname()[1], ca_pem=ca.cert_pem)
        endpoints = tmp / "endpoints.json"
        endpoints.write_text(json.dumps(next(o for o in objects if o["kind"] == "Endpoints")))
        agg = Aggregated(
            running, kubectl, sock, server_ssl(tls_dir=tmp, config=config), config, endpoints
        )
        agg.apply(*objects)
        yield agg


def _common_name(request: web.Request) -> str | None:
    cert = request.transport.get_extra_info("peercert") if request.transport else None
    names = [v for rdn in (cert or {}).get("subject", ()) for k, v in rdn if k == "commonName"]
    return names[0] if names else None


@contextlib.asynccontextmanager
async def operator_running(agg: Aggregated, state: Path) -> AsyncIterator[OperatorService]:
    """The operator over deployment/web (one ready pod, fake agents) behind the APIService,
    for the block."""
    service = OperatorService(OperatorSettings(state_dir=state), OnePodCluster(agents=True))
    await service.start()

    @web.middleware
    async def record(request: web.Request, handler: Any) -> web.StreamResponse:
        agg.seen.append(
            {
                "path": request.path,
                "user": request.headers.get("X-Remote-User"),
                "groups": request.headers.getall("X-Remote-Group", []),
                "cn": _common_name(request),
                "authorization": request.headers.get("Authorization"),
            }
        )
        response: web.StreamResponse = await handler(request)
        return response

    client = await new_client_from_config(config_file=str(agg.api.kubeconfig), persist_config=False)
    identity = FrontProxyIdentity(agg.requestheader, SubjectAccessReviewer(Rest(client)))
    app = OperatorApi(service, identify=identity.caller).app()
    app.middlewares.insert(0, record)
    runner = web.AppRunner(app, access_log=None, handle_signals=False, shutdown_timeout=1.0)
    await runner.setup()
    try:
        await web.SockSite(runner, agg.listener.dup(), ssl_context=agg.server_ssl).start()
        yield service
    finally:
        await service.close()
        await runner.cleanup()
        await client.close()
