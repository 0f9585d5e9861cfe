"""Objects for the Kubernetes backend's tests, written as a controller and a kubelet would,
and a TCP gate to the API server that a test can cut or hold."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import yaml

from podtap.backends.base import (
    AgentEndpoint,
    AgentRoute,
    ResolvedTarget,
    ResourceEvent,
    TargetRef,
    TargetSummary,
)
from podtap.backends.kubernetes import KubernetesBackend
from podtap.backends.kubernetes.backend import RESOLVABLE_KINDS
from podtap.backends.local.kubeapi.app import Running
from podtap.core.kube.target_selection import SIDECARS
from podtap.net.relay import relay

Obj = dict[str, Any]
NS = "default"


def _owned(meta: Obj, owner: tuple[str, str] | None) -> Obj:
    if owner is not None:
        api = {"Deployment": "apps/v1", "ReplicaSet": "apps/v1", "StatefulSet": "apps/v1"}
        meta["ownerReferences"] = [
            {
                "apiVersion": api.get(owner[0], "batch/v1"),
                "kind": owner[0],
                "name": owner[1],
                "uid": f"uid-{owner[1]}",
                "controller": True,
            }
        ]
    return meta


async def put_owned(backend: KubernetesBackend, obj: Obj) -> str:
    """Put `obj` with its owners' real uids: the garbage collector deletes, as on a real
    cluster, an object whose every owner reference names a uid no live object has."""
    for ref in obj["metadata"].get("ownerReferences") or []:
        live = await backend.list_resources(ref["kind"], namespace=NS)
        (owner,) = [o for o in live if o["metadata"]["name"] == ref["name"]]
        ref["uid"] = owner["metadata"]["uid"]
    return await backend.put_resource(obj)


def template(labels: dict[str, str], *containers: str) -> Obj:
    return {
        "metadata": {"labels": labels},
        "spec": {
            "containers": [
                {"name": c, "image": "busybox", "ports": [{"containerPort": 8080}]}
                for c in containers or ("app",)
            ],
            "restartPolicy": "Never" if "job" in labels else "Always",
        },
    }


def deployment(name: str, labels: dict[str, str]) -> Obj:
    return {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {"name": name, "namespace": NS},
        "spec": {"selector": {"matchLabels": labels}, "template": template(labels)},
    }


def replicaset(name: str, labels: dict[str, str], *, owner: tuple[str, str]) -> Obj:
    made = deployment(name, labels) | {"kind": "ReplicaSet"}
    made["metadata"] = _owned(made["metadata"], owner)
    return made


def pod(
    name: str,
    labels: dict[str, str],
    *,
    owner: tuple[str, str] | None = None,
    containers: tuple[str, ...] = ("app",),
) -> Obj:
    body = template(labels, *containers)
    body["spec"]["nodeName"] = "node-a"
    meta = _owned({"name": name, "namespace": NS, "labels": labels}, owner)
    return {"apiVersion": "v1", "kind": "Pod", "metadata": meta, "spec": body["spec"]}


def service(name: str, selector: dict[str, str], *, ip: str | None = None) -> Obj:
    """A Service; `ip` as its clusterIP (a server without the allocator gives it none)."""
    spec: Obj = {"selector": selector, "ports": [{"port": 80, "targetPort": 8080}]}
    if ip is not None:
        spec["clusterIP"] = ip
    meta = {"name": name, "namespace": NS}
    return {"apiVersion": "v1", "kind": "Service", "metadata": meta, "spec": spec}


def job(name: str, *, owner: tuple[str, str] | None = None, done: bool = False) -> Obj:
    labels = {"job": name}
    made = {
        "apiVersion": "batch/v1",
        "kind": "Job",
        "metadata": _owned({"name": name, "namespace": NS}, owner),
        "spec": {
            "manualSelector": True,
            "selector": {"matchLabels": labels},
            "template": template(labels),
        },
    }
    if done:
        made["status"] = {"conditions": [{"type": "Complete", "status": "True"}]}
    return made


def crd(kind: str, group: str, version: str, *, scope: str) -> Obj:
    plural = f"{kind.lower()}s"
    return {
        "apiVersion": "apiextensions.k8s.io/v1",
        "kind": "CustomResourceDefinition",
        "metadata": {"name": f"{plural}.{group}"},
        "spec": {
            "group": group,
            "scope": scope,
            "names": {"plural": plural, "singular": kind.lower(), "kind": kind},
            "versions": [
                {
                    "name": version,
                    "served": True,
                    "storage": True,
                    "schema": {
                        "openAPIV3Schema": {
                            "type": "object",
                            "x-kubernetes-preserve-unknown-fields": True,
                        }
                    },
                }
            ],
        },
    }


async def write_status(backend: KubernetesBackend, path: str, status: Obj) -> None:
    """Through the status subresource, as a controller or the kubelet writes it."""
    rest = backend._rest  # the tests write what the cluster's own components would
    stored = await rest.get(path)
    stored["status"] = status
    await rest.call("PUT", f"{path}/status", body=stored)


async def write_pod_status(backend: KubernetesBackend, name: str, *, ready: bool) -> None:
    """Running on node-a at 10.244.0.9; each container but a sidecar running."""
    path = f"/api/v1/namespaces/{NS}/pods/{name}"
    spec = (await backend._rest.get(path))["spec"]
    statuses = []
    for c in spec["containers"]:
        running = c["name"] not in SIDECARS
        statuses.append(
            {
                "name": c["name"],
                "image": c["image"],
                "imageID": "",
                "ready": ready and running,
                "restartCount": 0,
                "containerID": f"containerd://{name}-{c['name']}",
                "state": {"running": {}} if running else {"waiting": {"reason": "Pending"}},
            }
        )
    condition = {"type": "Ready", "status": "True" if ready else "False"}
    status = {"phase": "Running", "podIP": "10.244.0.9", "hostIP": "10.0.0.1"}
    status |= {"conditions": [condition], "containerStatuses": statuses}
    await write_status(backend, path, status)


class Gate:
    """A TCP relay in front of an API server: `cut` drops every open connection, `held`
    keeps new ones waiting (not refused) until its block ends."""

    def __init__(self) -> None:
        self._open: asyncio.Event | None = None
        self._live: set[asyncio.StreamWriter] = set()

    async def _handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        assert self._open is not None
        await self._open.wait()
        up_reader, up_writer = await asyncio.open_connection(*self._upstream)
        pair = {writer, up_writer}
        self._live |= pair
        try:
            await relay(reader, writer, up_reader, up_writer)
        finally:
            self._live -= pair

    def cut(self) -> int:
        """Abort every relayed connection; how many there were."""
        live = list(self._live)
        for writer in live:
            writer.transport.abort()
        return len(live) // 2

    @contextlib.asynccontextmanager
    async def held(self) -> AsyncIterator[None]:
        assert self._open is not None
        self._open.clear()
        try:
            yield
        finally:
            self._open.set()

    @contextlib.asynccontextmanager
    async def serving(self, server: Running) -> AsyncIterator[Path]:
        """Relay to `server` for the block; yields a kubeconfig that goes through the gate."""
        url = urlsplit(server.url)
        self._upstream = (url.hostname or "127.0.0.1", url.port or 443)
        self._open = asyncio.Event()
        self._open.set()
        listener = await asyncio.start_server(self._handle, "127.0.0.1", 0)
        port = listener.sockets[0].getsockname()[1]
        config = yaml.safe_load(server.kubeconfig.read_text())
        for cluster in config["clusters"]:
            cluster["cluster"]["server"] = f"https://127.0.0.1:{port}"
        path = server.workdir / "kubeconfig-gate"
        path.write_text(yaml.safe_dump(config))
        try:
            yield path
        finally:
            listener.close()
            self.cut()
            await listener.wait_closed()


class EachCall:
    """The Kubernetes backend for a suite that runs each test in a fresh event loop
    (`asyncio.run`): every call opens a backend on `kubeconfig` and closes it after, so no
    client outlives its loop."""

    resolvable_kinds = RESOLVABLE_KINDS

    def __init__(self, kubeconfig: Path) -> None:
        self.kubeconfig = kubeconfig

    async def _open(self) -> KubernetesBackend:
        return await KubernetesBackend.from_kubeconfig(path=self.kubeconfig)

    async def list_targets(self, *, namespace: str | None = None) -> list[TargetSummary]:
        async with await self._open() as b:
            return await b.list_targets(namespace=namespace)

    async def resolve(self, target: TargetRef, *, namespace: str) -> ResolvedTarget:
        async with await self._open() as b:
            return await b.resolve(target, namespace=namespace)

    async def container_env(self, resolved: ResolvedTarget) -> dict[str, str]:
        async with await self._open() as b:
            return await b.container_env(resolved)

    async def list_resources(self, kind: str, *, namespace: str | None = None) -> list[Obj]:
        async with await self._open() as b:
            return await b.list_resources(kind, namespace=namespace)

    async def get_resource(self, kind: str, *, namespace: str, name: str) -> Obj | None:
        async with await self._open() as b:
            return await b.get_resource(kind, namespace=namespace, name=name)

    async def put_resource(self, obj: Obj) -> str:
        async with await self._open() as b:
            return await b.put_resource(obj)

    async def delete_resource(self, kind: str, *, namespace: str, name: str) -> bool:
        async with await self._open() as b:
            return await b.delete_resource(kind, namespace=namespace, name=name)

    async def watch_resources(self, kind: str) -> AsyncIterator[ResourceEvent]:
        async with await self._open() as b:
            async for event in b.watch_resources(kind):
                yield event

    async def start_agent(
        self, resolved: ResolvedTarget, *, token: str, socket_path: str
    ) -> AgentEndpoint:
        async with await self._open() as b:
            return await b.start_agent(resolved, token=token, socket_path=socket_path)

    async def agent_route(self, endpoint: AgentEndpoint) -> AgentRoute:
        async with await self._open() as b:
            return await b.agent_route(endpoint)

    async def stop_agent(self, endpoint: AgentEndpoint) -> None:
        async with await self._open() as b:
            await b.stop_agent(endpoint)


@contextlib.contextmanager
def with_crd(kubeconfig: Path, definition: Obj) -> Iterator[None]:
    """`definition` (a CustomResourceDefinition) installed for the block, removed after
    (and with it every object of its kind)."""
    backend = EachCall(kubeconfig)
    asyncio.run(backend.put_resource(definition))
    try:
        yield
    finally:
        name = definition["metadata"]["name"]
        kind = "CustomResourceDefinition"
        asyncio.run(backend.delete_resource(kind, namespace="", name=name))
