"""The node: the process that *is* the local cluster.

Started by `podtap local up` inside its own network and mount namespaces (and a user
namespace when not root), it runs the controller, cluster DNS, and an HTTP API on a Unix
socket in the state directory. Everything it creates lives in those namespaces and dies
with it."""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import logging
import os
import secrets
import signal
import socket
from pathlib import Path
from typing import Any

from aiohttp import WSMsgType, web

from podtap.backends.local.apiserve import Saver, api_app, serve_api
from podtap.backends.local.cluster import Cluster, run_pod_plan
from podtap.backends.local.dns import serve_dns
from podtap.backends.local.forward import ForwardServer
from podtap.backends.local.kubeapi.status import ApiError
from podtap.backends.local.kubeapi.streams import POD_ACCESS
from podtap.backends.local.manifests import Manifest, ManifestError, check
from podtap.backends.local.models import Container, PodSpec
from podtap.backends.local.network import GATEWAY, setup_node
from podtap.backends.local.objects import ApiObjects
from podtap.backends.local.paths import ClusterPaths
from podtap.backends.local.pod_streams import NodePods
from podtap.net.tasks import TaskSet

log = logging.getLogger("podtap.node")
# What `podtap local get all` and the node's /objects leave out unless asked for by kind:
# the API's own bookkeeping (bootstrap RBAC, CRDs, the Node, pods listed from the runtime).
_NOT_LISTED = {
    ("", "pods"), ("", "nodes"), ("", "events"), ("", "endpoints"), ("", "serviceaccounts"),
    ("apiextensions.k8s.io", "customresourcedefinitions"), ("coordination.k8s.io", "leases"),
    ("discovery.k8s.io", "endpointslices"), ("events.k8s.io", "events"),
    ("apps", "controllerrevisions"), ("apps", "replicasets"),
}  # fmt: skip
_RBAC = "rbac.authorization.k8s.io"


def _manifests(body: dict[str, Any]) -> list[Manifest]:
    out, problems = [], []
    for i, item in enumerate(body.get("manifests", [])):
        try:
            out.append(check(item["raw"], source=item.get("source", "request"), index=i))
        except ManifestError as exc:
            problems += exc.problems
    if problems:
        raise ManifestError(problems)
    return out


class Node:
    def __init__(self, paths: ClusterPaths, cluster: Cluster) -> None:
        self.paths = paths
        self.cluster = cluster
        self.stopping = asyncio.Event()
        self.started = asyncio.get_running_loop().time()

    def app(self) -> web.Application:
        app = web.Application(client_max_size=64 * 1024 * 1024)
        app.add_routes(
            [
                web.get("/healthz", self.healthz),
                web.post("/apply", self.apply),
                web.post("/delete", self.delete),
                web.get("/objects", self.objects),
                web.get("/pods", self.pods),
                web.get("/run", self.run_pod),
                web.get("/watch", self.watch),
            ]
        )
        return app

    async def healthz(self, request: web.Request) -> web.Response:
        return web.json_response(
            {
                "ok": True,
                "pid": os.getpid(),
                "name": self.paths.name,
                "netns": f"/proc/{os.getpid()}/ns/net",
            }
        )

    async def apply(self, request: web.Request) -> web.Response:
        try:
            manifests = _manifests(await request.json())
        except ManifestError as exc:
            return web.json_response({"errors": exc.problems}, status=422)
        try:
            results = self.cluster.apply(manifests)
        except (LookupError, ApiError) as exc:
            problem = exc.body()["message"] if isinstance(exc, ApiError) else str(exc)
            return web.json_response({"errors": [problem]}, status=422)
        return web.json_response({"results": results})

    async def delete(self, request: web.Request) -> web.Response:
        try:
            manifests = _manifests(await request.json())
        except ManifestError as exc:
            return web.json_response({"errors": exc.problems}, status=422)
        return web.json_response({"results": self.cluster.delete(manifests)})

    async def objects(self, request: web.Request) -> web.Response:
        kind, ns = request.query.get("kind"), request.query.get("namespace")
        objects = self.cluster.objects
        if kind:
            found = objects.type_of(kind)
            types = [found] if found is not None else []
        else:
            types = [
                rt
                for rt in objects.types()
                if (rt.group, rt.plural) not in _NOT_LISTED and rt.group != _RBAC
            ]
        items = [o for rt in types for o in objects.raw_items(rt, ns)]
        return web.json_response({"items": items})

    async def pods(self, request: web.Request) -> web.Response:
        return web.json_response({"items": self.cluster.pod_status(request.query.get("namespace"))})

    async def run_pod(self, request: web.Request) -> web.WebSocketResponse:
        """A short-lived pod for `podtap local run`; deleted when the socket closes."""
        ws = web.WebSocketResponse()
        await ws.prepare(request)
        ns = request.query.get("namespace", "default")
        name = f"run-{secrets.token_hex(3)}"
        spec = PodSpec(containers=[Container(name="run", command=["true"])], restart_policy="Never")
        try:
            pod = await self.cluster.start_pod_now(run_pod_plan(ns, name, spec))
        except RuntimeError as exc:
            await ws.send_json({"error": str(exc)})
            await ws.close()
            return ws
        try:
            await ws.send_json(
                {"pod": name, "namespace": ns, "ip": str(pod.ip), "sandbox_pid": pod.sandbox.pid}
            )
            async for msg in ws:
                if msg.type in (WSMsgType.CLOSE, WSMsgType.ERROR):
                    break
        finally:
            await self.cluster.remove_pod((ns, name))
        return ws

    async def watch(self, request: web.Request) -> web.WebSocketResponse:
        """Existing objects as ADDED, then a BOOKMARK, then every change (list + watch)."""
        ws = web.WebSocketResponse()
        await ws.prepare(request)
        kind = request.query.get("kind")
        objects = self.cluster.objects
        queue, unwatch = objects.watch()
        tasks = TaskSet()
        try:
            found = objects.type_of(kind) if kind else None
            for obj in [] if found is None else objects.raw_items(found):
                await ws.send_json({"type": "ADDED", "object": obj})
            await ws.send_json({"type": "BOOKMARK", "object": {}})
            closed = tasks.spawn(ws.receive(), name="watch: client gone")
            while not closed.done():
                change = tasks.spawn(queue.get(), name="watch: next change")
                await asyncio.wait({closed, change}, return_when=asyncio.FIRST_COMPLETED)
                if not change.done():
                    break
                event = change.result()
                if kind is None or event.kind == kind:
                    await ws.send_json({"type": event.type, "object": event.object})
        finally:
            await tasks.close()
            unwatch()
        return ws


async def serve(paths: ClusterPaths, *, api_listening: socket.socket) -> None:
    tasks = TaskSet()
    await setup_node()
    dns_transport, dns = await serve_dns(str(GATEWAY))
    saver = Saver(paths)
    ctx, api = api_app(paths, saver)
    cluster = Cluster(paths, dns, ApiObjects(ctx))
    api[POD_ACCESS] = NodePods(cluster)
    node = Node(paths, cluster)
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, node.stopping.set)
    runner = web.AppRunner(node.app(), handle_signals=False, access_log=None)
    await runner.setup()
    forward = ForwardServer(cluster)
    for sock in (paths.api_socket, paths.forward_socket):
        with contextlib.suppress(FileNotFoundError):
            sock.unlink()
    await forward.start(paths.forward_socket)
    tasks.spawn(cluster.run(), name="controller")
    await cluster.reconcile()
    kube = await serve_api(paths, ctx=ctx, app=api, saver=saver, listening=api_listening)
    site = web.UnixSite(runner, str(paths.api_socket))
    await site.start()
    log.info("node %s ready (pid %d)", paths.name, os.getpid())
    try:
        await node.stopping.wait()
    finally:
        log.info("node %s stopping", paths.name)
        await cluster.shutdown()
        await kube.close()
        await tasks.close()
        await forward.close()
        dns_transport.close()
        await runner.cleanup()
        for sock in (paths.api_socket, paths.forward_socket):
            with contextlib.suppress(FileNotFoundError):
                sock.unlink()


def main() -> None:
    parser = argparse.ArgumentParser(description="podtap local cluster node (internal)")
    parser.add_argument("--state", required=True, type=Path)
    parser.add_argument(
        "--api-fd", required=True, type=int, help="a listening socket the host bound"
    )
    args = parser.parse_args()
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(message)s")
    listening = socket.socket(fileno=args.api_fd)
    asyncio.run(serve(ClusterPaths(args.state), api_listening=listening))
    print(json.dumps({"stopped": True}), flush=True)


if __name__ == "__main__":
    main()
