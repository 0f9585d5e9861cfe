"""The node's Kubernetes API server: the kubeapi app on the socket the host bound, persisted.

The host (`apiaccess.listen`) binds 127.0.0.1:PORT in its own network namespace and passes the
listening socket to the node; the node serves HTTPS on it with the cluster's serving
certificate, and also on its gateway (10.244.0.1:6443), where pods reach it. The API's store
is the cluster's one store: it is saved to `api.json` shortly after each change (and at
stop) and restored at start, so a restarted node finds its objects — and resourceVersions
keep growing — as a real cluster's etcd would.
"""

from __future__ import annotations

import asyncio
import json
import logging
import os
import socket
import time
from dataclasses import dataclass

from aiohttp import web

from podtap.backends.local.accounts import SystemControllers
from podtap.backends.local.apiaccess import IN_CLUSTER_PORT, serving_pair
from podtap.backends.local.controllers import NODE_NAME
from podtap.backends.local.frontproxy import ensure_front_proxy
from podtap.backends.local.kubeapi.aggregation import FRONT_PROXY
from podtap.backends.local.kubeapi.app import build_app
from podtap.backends.local.kubeapi.context import ApiContext
from podtap.backends.local.kubeapi.pki import server_ssl_context
from podtap.backends.local.kubeapi.serviceaccounts import admit_pod
from podtap.backends.local.kubeapi.store import Key, Store
from podtap.backends.local.kubeapi.tokens import Signer
from podtap.backends.local.network import GATEWAY
from podtap.backends.local.nodeinfo import LEASE_NAMESPACE, capacity, lease_object
from podtap.backends.local.paths import ClusterPaths
from podtap.backends.local.podstatus import iso
from podtap.backends.local.runnable import check_runnable, default_pod
from podtap.backends.local.service_ips import ServiceIPs
from podtap.backends.local.statefulsets import default as default_statefulset
from podtap.backends.local.token_keeper import TokenKeeper
from podtap.net.tasks import TaskSet

log = logging.getLogger(__name__)
SAVE_EVERY = 0.5


class Saver:
    """Writes the store's snapshot at most every SAVE_EVERY seconds after a change."""

    def __init__(self, paths: ClusterPaths) -> None:
        self.paths = paths
        self.store: Store | None = None
        self._dirty = asyncio.Event()

    def changed(self) -> None:
        self._dirty.set()

    def save(self) -> None:
        assert self.store is not None
        target = self.paths.api_snapshot
        part = target.with_suffix(".part")
        part.write_text(json.dumps(self.store.snapshot()))
        os.replace(part, target)

    async def run(self) -> None:
        while True:
            await self._dirty.wait()
            await asyncio.sleep(SAVE_EVERY)
            self._dirty.clear()
            self.save()


def api_app(paths: ClusterPaths, saver: Saver) -> tuple[ApiContext, web.Application]:
    """The API's state, restored from the last snapshot, and its app (which seeds the
    system namespaces and serves the stored CRDs' types), with the node's Node object."""
    store = Store(on_commit=saver.changed)
    if paths.api_snapshot.exists():
        store.restore(json.loads(paths.api_snapshot.read_text()))
    saver.store = store
    ctx = ApiContext(
        store=store, admission_checks=[admit_pod, default_pod, check_runnable, default_statefulset]
    )
    ctx.signer = Signer.load_or_create(paths.pki_dir / "sa.key")  # tokens outlive a restart
    ctx.admission_checks.append(ServiceIPs(ctx))
    app = build_app(ctx)
    store.put(Key("", "nodes", "", NODE_NAME), node_object())
    renewed = time.strftime("%Y-%m-%dT%H:%M:%S.000000Z", time.gmtime())
    lease = Key("coordination.k8s.io", "leases", LEASE_NAMESPACE, NODE_NAME)
    store.put(lease, lease_object(NODE_NAME, now=renewed))
    return ctx, app


def node_object() -> dict[str, object]:
    """The one Node, Ready, at the gateway address pods reach it at."""
    now = iso(time.time())
    return {
        "apiVersion": "v1",
        "kind": "Node",
        "metadata": {
            "name": NODE_NAME,
            "uid": f"podtap-node-{os.getpid()}",
            "creationTimestamp": now,
            "labels": {
                "kubernetes.io/hostname": NODE_NAME,
                "kubernetes.io/os": "linux",
                "node-role.kubernetes.io/control-plane": "",
            },
        },
        "spec": {"podCIDR": "10.244.0.0/16"},
        "status": {
            "conditions": [
                {
                    "type": "Ready",
                    "status": "True",
                    "reason": "KubeletReady",
                    "message": "podtap's node is posting ready status",
                    "lastHeartbeatTime": now,
                    "lastTransitionTime": now,
                }
            ],
            "capacity": capacity(),
            "allocatable": capacity(),
            "addresses": [
                {"type": "InternalIP", "address": str(GATEWAY)},
                {"type": "Hostname", "address": NODE_NAME},
            ],
            "nodeInfo": {
                "kubeletVersion": "v1.37.1",
                "containerRuntimeVersion": "podtap://local",
                "operatingSystem": "linux",
                "architecture": "amd64",
                "osImage": "podtap embedded cluster",
                "kernelVersion": os.uname().release,
            },
        },
    }


@dataclass
class ApiServer:
    runner: web.AppRunner
    tasks: TaskSet
    saver: Saver

    async def close(self) -> None:
        await self.runner.cleanup()
        await self.tasks.close()
        self.saver.save()


async def serve_api(
    paths: ClusterPaths,
    *,
    ctx: ApiContext,
    app: web.Application,
    saver: Saver,
    listening: socket.socket,
) -> ApiServer:
    """Serve the API app on `listening` and on the gateway."""
    ssl_ctx = server_ssl_context(
        ca_pem=(paths.pki_dir / "ca.crt").read_bytes(),
        serving=serving_pair(paths),
        workdir=paths.pki_dir,
    )
    host, port = listening.getsockname()[:2]
    ctx.address = f"{host}:{port}"
    front, front_ca = ensure_front_proxy(paths.pki_dir)
    app[FRONT_PROXY] = front
    runner = web.AppRunner(app, access_log=None, shutdown_timeout=2.0, handle_signals=False)
    await runner.setup()
    await web.SockSite(runner, listening, ssl_context=ssl_ctx).start()
    await web.TCPSite(runner, str(GATEWAY), IN_CLUSTER_PORT, ssl_context=ssl_ctx).start()
    tasks = TaskSet()
    tasks.spawn(saver.run(), name="api store saver")
    ca_pem = (paths.pki_dir / "ca.crt").read_bytes()
    system = SystemControllers(ctx, ca_pem=ca_pem, front_proxy_ca=front_ca)
    system.sync()  # the accounts' tokens exist before the first pod starts
    tasks.spawn(system.run(pod_tokens=TokenKeeper(ctx, paths)), name="system controllers")
    log.info("kubernetes API on https://%s:%d", host, port)
    return ApiServer(runner, tasks, saver)
