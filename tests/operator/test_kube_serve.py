"""`podtap operator serve --kube` as the chart runs it, two replicas against the API server
in-process: one leads and serves the aggregated API to the front proxy; the follower only
answers its probes; a graceful stop hands the lead over at once."""

from __future__ import annotations

import asyncio
import json
import socket
import ssl
import time
from collections.abc import Awaitable, Callable, Iterator
from pathlib import Path
from typing import Any

import aiohttp
import pytest

from podtap.backends.kubernetes.config import kubeconfig_client
from podtap.backends.kubernetes.rest import Rest
from podtap.backends.local.kubeapi.app import Running
from podtap.backends.local.kubeapi.auth import Identity
from podtap.backends.local.kubeapi.pki import ClusterCA
from podtap.core.lifecycle import Limits
from podtap.net.tasks import TaskSet
from podtap.operator.kube_serve import serve_kube
from podtap.operator.kube_settings import KubeOperatorSettings
from tests.operator.crds import api_with_sessions

NS = "podtap"
STATUS = "/apis/operator.podtap.dev/v1/operators/operator"


async def until(check: Callable[[], Awaitable[object]], *, timeout: float, what: str) -> None:
    """Await `check` until it is truthy, within `timeout` seconds."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if await check():
            return
        await asyncio.sleep(0.05)
    raise AssertionError(f"timed out after {timeout} s waiting for {what}")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


@pytest.fixture(scope="module")
def api() -> Iterator[Running]:
    with api_with_sessions() as running:
        yield running


async def setup(rest: Rest, front: ClusterCA) -> None:
    """What the cluster holds before the chart's operator starts: the request-header CA the
    API server publishes, the operator's namespace and its two pods."""
    cm = {
        "apiVersion": "v1",
        "kind": "ConfigMap",
        "metadata": {"name": "extension-apiserver-authentication", "namespace": "kube-system"},
        "data": {
            "requestheader-client-ca-file": front.cert_pem.decode(),
            "requestheader-allowed-names": json.dumps(["front-proxy-client"]),
            "requestheader-username-headers": '["X-Remote-User"]',
            "requestheader-group-headers": '["X-Remote-Group"]',
            "requestheader-extra-headers-prefix": '["X-Remote-Extra-"]',
        },
    }
    await rest.call("POST", "/api/v1/namespaces/kube-system/configmaps", body=cm)
    ns = {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": NS}}
    await rest.call("POST", "/api/v1/namespaces", body=ns)
    for name in ("op-a", "op-b"):
        pod = {
            "apiVersion": "v1",
            "kind": "Pod",
            "metadata": {"name": name, "namespace": NS},
            "spec": {"containers": [{"name": "operator", "image": "podtap"}]},
        }
        await rest.call("POST", f"/api/v1/namespaces/{NS}/pods", body=pod)


def test_one_replica_leads_and_a_graceful_stop_hands_over(api: Running, tmp_path: Path) -> None:
    async def go() -> None:
        rest = Rest(await kubeconfig_client(path=api.kubeconfig, context=None))
        front = ClusterCA.create(cluster="front-proxy")
        serving = ClusterCA.create(cluster="operator")
        serving.serving(hosts=["127.0.0.1"]).write(
            cert=tmp_path / "tls.crt", key=tmp_path / "tls.key"
        )
        proxy = front.client(user="front-proxy-client")
        proxy.write(cert=tmp_path / "proxy.crt", key=tmp_path / "proxy.key")
        client = ssl.create_default_context(cadata=serving.cert_pem.decode())
        client.load_cert_chain(tmp_path / "proxy.crt", tmp_path / "proxy.key")
        tasks, stops, ports = TaskSet(), {}, {}
        try:
            await setup(rest, front)
            for name in ("op-a", "op-b"):
                ports[name], stops[name] = free_port(), asyncio.Event()
                settings = KubeOperatorSettings(
                    namespace=NS,
                    pod_name=name,
                    listen=f"127.0.0.1:{ports[name]}",
                    tls_dir=tmp_path,
                    lease_name="podtap-operator-leader",
                    state_dir=tmp_path / name,
                )
                tasks.spawn(
                    serve_kube(
                        settings, limits=Limits(), kubeconfig=api.kubeconfig, stop=stops[name]
                    ),
                    name=f"operator {name}",
                )

            async def ask(name: str, path: str) -> tuple[int, Any]:
                url = f"https://127.0.0.1:{ports[name]}{path}"
                headers = {"X-Remote-User": "alice", "X-Remote-Group": "system:masters"}
                async with (
                    aiohttp.ClientSession() as http,
                    http.get(url, ssl=client, headers=headers) as r,
                ):
                    return r.status, await r.json()

            async def leader() -> str:
                lease = await rest.get_or_none(
                    f"/apis/coordination.k8s.io/v1/namespaces/{NS}/leases/podtap-operator-leader"
                )
                return str(((lease or {}).get("spec") or {}).get("holderIdentity") or "")

            async def serving_status(name: str) -> bool:
                try:
                    return (await ask(name, STATUS))[0] == 200
                except aiohttp.ClientError:
                    return False

            await until(leader, timeout=10, what="a leader")
            first = await leader()
            other = "op-b" if first == "op-a" else "op-a"
            await until(lambda: serving_status(first), timeout=10, what="leader serves")
            status, body = await ask(first, STATUS)
            assert status == 200 and body["sessions"] == []
            await until(lambda: _healthy(ask, other), timeout=10, what="follower up")
            assert (await ask(other, STATUS))[0] == 503  # a follower serves probes only
            pod = await rest.get(f"/api/v1/namespaces/{NS}/pods/{first}")
            assert pod["metadata"]["labels"]["podtap.dev/leader"] == "true"

            # Past the aggregator (a port-forward to the pod): a bearer token the API server
            # reviews, and RBAC asked by the operator itself.
            bare = ssl.create_default_context(cadata=serving.cert_pem.decode())

            async def direct(token: str) -> tuple[int, Any]:
                url = f"https://127.0.0.1:{ports[first]}{STATUS}"
                headers = {"Authorization": f"Bearer {token}", "X-Remote-User": "root"}
                async with (
                    aiohttp.ClientSession() as http,
                    http.get(url, ssl=bare, headers=headers) as r,
                ):
                    return r.status, await r.json()

            admin = api.token_for(Identity("carol", ("system:masters",)))
            assert (await direct(admin))[0] == 200
            status, body = await direct(api.token_for(Identity("mallory")))
            assert status == 403
            assert body["error"] == (
                'operators.operator.podtap.dev "operator" is forbidden: User "mallory" cannot '
                'get resource "operators" in API group "operator.podtap.dev" at the cluster scope'
            )
            status, body = await direct("not-a-token")
            assert status == 401 and "does not accept this token" in body["error"]

            stops[first].set()  # a graceful stop releases the lease
            await until(lambda: serving_status(other), timeout=5, what="hand-over")
            assert await leader() == other
        finally:
            for stop in stops.values():
                stop.set()
            await tasks.close()
            await rest.api.close()

    asyncio.run(go())


async def _healthy(ask: Any, name: str) -> bool:
    try:
        return bool((await ask(name, "/healthz"))[0] == 200)
    except aiohttp.ClientError:
        return False
