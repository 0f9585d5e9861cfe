"""The aggregation layer on `podtap local up` (issue 12, item 9), with the real kubectl.

A tiny aiohttp server in a pod, TLS with its own CA and asking for a client certificate of
the front-proxy CA (which it reads, as aggregated servers do, from
`kube-system/extension-apiserver-authentication`), is registered for demo.podtap.dev/v1 by
an APIService. kubectl reaches it through the API server, which authorizes first and passes
who asked in X-Remote-User/X-Remote-Group; a user RBAC denies is refused before it; a
WebSocket upgrade is relayed too."""

from __future__ import annotations

import asyncio
import base64
import json
import ssl
import sys
from pathlib import Path
from typing import Any

import aiohttp
import yaml

from podtap.backends.local.kubeapi.kubeconfig import ADMIN_USER
from podtap.backends.local.kubeapi.pki import ClusterCA
from podtap.testing.localcluster import LocalCluster
from tests.cluster.test_kubectl_cluster_services import _up

SERVER = """
import ssl
from aiohttp import web
async def info(r):
    cert = r.transport.get_extra_info('peercert') or {}
    cn = [v for rdn in cert.get('subject', ()) for k, v in rdn if k == 'commonName']
    return web.json_response({'user': r.headers.get('X-Remote-User'),
        'groups': r.headers.getall('X-Remote-Group', []), 'cn': cn, 'path': r.path,
        'authorization': r.headers.get('Authorization')})
async def echo(r):
    ws = web.WebSocketResponse()
    await ws.prepare(r)
    async for m in ws:
        await ws.send_str(r.headers.get('X-Remote-User', '') + ':' + m.data)
    return ws
ctx = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
ctx.load_cert_chain('/etc/demo-tls/tls.crt', '/etc/demo-tls/tls.key')
ctx.load_verify_locations('/etc/demo-fp/ca.crt')
ctx.verify_mode = ssl.CERT_REQUIRED
async def resources(r):
    widgets = {'name': 'widgets', 'singularName': 'widget', 'namespaced': True,
               'kind': 'Widget', 'verbs': ['get', 'list'], 'shortNames': ['wd']}
    return web.json_response({'kind': 'APIResourceList', 'apiVersion': 'v1',
        'groupVersion': 'demo.podtap.dev/v1', 'resources': [widgets]})
app = web.Application()
app.router.add_get('/apis/demo.podtap.dev/v1', resources)
app.router.add_get('/apis/demo.podtap.dev/v1/echo', echo)
app.router.add_get('/{tail:.*}', info)
web.run_app(app, port=8443, ssl_context=ctx, print=None)
"""
RAW = "/apis/demo.podtap.dev/v1/namespaces/sat/widgets"
V1 = {"groupVersion": "demo.podtap.dev/v1", "version": "v1"}


def _objects(ca: ClusterCA, front_proxy_ca: str) -> list[dict[str, Any]]:
    tls = ca.serving(hosts=["demo.sat.svc"])
    labels = {"app": "demo"}
    return [
        {
            "apiVersion": "v1",
            "kind": "Secret",
            "metadata": {"name": "demo-tls", "namespace": "sat"},
            "stringData": {"tls.crt": tls.cert_pem.decode(), "tls.key": tls.key_pem.decode()},
        },
        {
            "apiVersion": "v1",
            "kind": "ConfigMap",
            "metadata": {"name": "front-proxy", "namespace": "sat"},
            "data": {"ca.crt": front_proxy_ca},
        },
        {
            "apiVersion": "v1",
            "kind": "Pod",
            "metadata": {"name": "demo", "namespace": "sat", "labels": labels},
            "spec": {
                "containers": [
                    {
                        "name": "demo",
                        "image": "python:3",
                        "command": [sys.executable, "-c", SERVER],
                        "ports": [{"containerPort": 8443}],
                        "readinessProbe": {"tcpSocket": {"port": 8443}, "periodSeconds": 1},
                        "volumeMounts": [
                            {"name": "tls", "mountPath": "/etc/demo-tls"},
                            {"name": "fp", "mountPath": "/etc/demo-fp"},
                        ],
                    }
                ],
                "volumes": [
                    {"name": "tls", "secret": {"secretName": "demo-tls"}},
                    {"name": "fp", "configMap": {"name": "front-proxy"}},
                ],
            },
        },
        {
            "apiVersion": "v1",
            "kind": "Service",
            "metadata": {"name": "demo", "namespace": "sat"},
            "spec": {"selector": labels, "ports": [{"port": 443, "targetPort": 8443}]},
        },
        {
            "apiVersion": "apiregistration.k8s.io/v1",
            "kind": "APIService",
            "metadata": {"name": "v1.demo.podtap.dev"},
            "spec": {
                "group": "demo.podtap.dev",
                "version": "v1",
                "service": {"namespace": "sat", "name": "demo", "port": 443},
                "caBundle": base64.b64encode(ca.cert_pem).decode(),
                "groupPriorityMinimum": 1000,
                "versionPriority": 15,
            },
        },
    ]


async def _websocket(config: Path, tmp_path: Path) -> str:
    """One message through /apis/demo.podtap.dev/v1/echo as the admin of `config`."""
    kc = yaml.safe_load(config.read_text())
    user, cluster = kc["users"][0]["user"], kc["clusters"][0]["cluster"]
    for name, key in (("c.crt", "client-certificate-data"), ("c.key", "client-key-data")):
        (tmp_path / name).write_bytes(base64.b64decode(user[key]))
    ctx = ssl.create_default_context(
        cadata=base64.b64decode(cluster["certificate-authority-data"]).decode()
    )
    ctx.load_cert_chain(tmp_path / "c.crt", tmp_path / "c.key")
    url = cluster["server"] + "/apis/demo.podtap.dev/v1/echo"
    async with aiohttp.ClientSession() as session, session.ws_connect(url, ssl=ctx) as ws:
        await ws.send_str("hello")
        msg = await asyncio.wait_for(ws.receive(), 10)
        return str(msg.data)


def test_an_apiservice_routes_its_group_to_a_pod(
    make_cluster: type[LocalCluster], tmp_path: Path
) -> None:
    c, kubectl = _up(make_cluster("t-aggr"), tmp_path)
    auth = kubectl.json("configmap", "extension-apiserver-authentication", "-n", "kube-system")
    data = auth["data"]
    assert json.loads(data["requestheader-allowed-names"]) == ["front-proxy-client"]
    assert json.loads(data["requestheader-username-headers"]) == ["X-Remote-User"]
    assert json.loads(data["requestheader-group-headers"]) == ["X-Remote-Group"]
    assert json.loads(data["requestheader-extra-headers-prefix"]) == ["X-Remote-Extra-"]
    assert data["client-ca-file"] != data["requestheader-client-ca-file"]

    kubectl("create", "namespace", "sat")
    objects = _objects(ClusterCA.create(cluster="demo"), data["requestheader-client-ca-file"])
    for obj in objects:
        kubectl("apply", "-f", "-", stdin=json.dumps(obj))
    kubectl("wait", "apiservice/v1.demo.podtap.dev", "--for=condition=Available", "--timeout=60s")

    seen = json.loads(kubectl("get", "--raw", RAW).stdout)
    assert seen["user"] == ADMIN_USER and "system:masters" in seen["groups"]
    assert "system:authenticated" in seen["groups"]
    assert seen["cn"] == ["front-proxy-client"] and seen["authorization"] is None
    assert seen["path"] == RAW

    # In discovery: /apis (both forms) and /apis/GROUP, as kubectl reads them.
    names = kubectl("api-resources", "--api-group=demo.podtap.dev", "-o", "name").stdout
    assert names.split() == ["widgets.demo.podtap.dev"]
    groups = json.loads(kubectl("get", "--raw", "/apis").stdout)["groups"]
    assert {"name": "demo.podtap.dev", "versions": [V1], "preferredVersion": V1} in groups
    group = json.loads(kubectl("get", "--raw", "/apis/demo.podtap.dev").stdout)
    assert group["kind"] == "APIGroup" and group["preferredVersion"] == V1

    alice = tmp_path / "alice.kubeconfig"
    c.podtap("local", "kubeconfig", "--user", "alice", "--out", str(alice))
    denied = kubectl("get", "--raw", RAW, ok=False, config=alice)
    assert denied.returncode != 0
    assert 'cannot list resource "widgets" in API group "demo.podtap.dev"' in denied.stderr

    config = Path(c.podtap("local", "kubeconfig").stdout.strip())
    assert asyncio.run(_websocket(config, tmp_path)) == f"{ADMIN_USER}:hello"
