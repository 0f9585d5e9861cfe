"""Port forwarding into pods: a Unix socket whose connections are relayed to a pod.

The host-side `podtap local port-forward` listens on 127.0.0.1 and, per connection,
connects here and writes one JSON line naming the target. The node opens a TCP
connection from its own namespace, so the traffic enters the pod through its veth as real
traffic from outside the pod does."""

from __future__ import annotations

import asyncio
import contextlib
import json
from pathlib import Path

from podtap.backends.local.cluster import Cluster
from podtap.backends.local.manifests import Service
from podtap.backends.local.services import endpoints
from podtap.net.relay import relay
from podtap.net.tasks import TaskSet


class ForwardServer:
    def __init__(self, cluster: Cluster) -> None:
        self._cluster = cluster
        self._server: asyncio.Server | None = None
        self._tasks = TaskSet()

    async def start(self, path: Path) -> None:
        self._server = await asyncio.start_unix_server(self._handle, path=str(path))

    def resolve(self, namespace: str, target: str, port: int) -> tuple[str, int]:
        """Map pod/NAME or svc/NAME and a port to a ready pod's ip and port."""
        kind, _, name = target.partition("/")
        views = self._cluster.views()
        if kind in ("pod", "pods", "po"):
            for v in views:
                if (v.namespace, v.name) == (namespace, name):
                    return v.ip, port
            raise LookupError(f"pod {namespace}/{name} is not running")
        if kind in ("svc", "service", "services"):
            svc = self._cluster.lookup("Service", namespace, name)
            if not isinstance(svc, Service):
                raise LookupError(f"service {namespace}/{name} not found")
            for sp in svc.spec.ports:
                if sp.port == port:
                    for ep in endpoints(svc, views):
                        tp = sp.target_port
                        if isinstance(tp, str):
                            tp = ep.ports.get(tp)
                        return ep.ip, tp or sp.port
                    raise LookupError(f"service {namespace}/{name} has no ready endpoints")
            raise LookupError(f"service {namespace}/{name} has no port {port}")
        raise LookupError(f"cannot forward to {target!r}: use pod/NAME or svc/NAME")

    async def _handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            request = json.loads(await reader.readline())
            ip, port = self.resolve(request["namespace"], request["target"], int(request["port"]))
            up_reader, up_writer = await asyncio.wait_for(asyncio.open_connection(ip, port), 5)
        except (LookupError, OSError, TimeoutError, ValueError, KeyError) as exc:
            writer.write(f"ERR {exc}\n".encode())
            with contextlib.suppress(OSError):
                await writer.drain()
            writer.close()
            return
        writer.write(f"OK {ip} {port}\n".encode())
        await relay(reader, writer, up_reader, up_writer)

    async def close(self) -> None:
        if self._server is not None:
            self._server.close()
        await self._tasks.close()
