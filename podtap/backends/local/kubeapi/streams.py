"""The streaming subresources of pods: `log`, `exec`, `attach`, `portforward`.

kube-apiserver hands these to the kubelet; here the node (`backends/local/pod_streams.py`)
answers them through `PodAccess`, which the node sets on the app under `POD_ACCESS` before
serving. The API side decides what kubectl sees: which container (the only one, or `-c`),
which part of the log (`tailLines`, `sinceSeconds`/`sinceTime`, `limitBytes`, `follow`),
and the wire protocols: plain chunked text for logs, WebSocket channels for exec and attach
(`execws.py`), SPDY tunnelled in a WebSocket for port-forward (`portforward.py`).

Authorization is kube-apiserver's: `get` for `pods/log`, `create` for the three WebSocket
subresources (what it checks of a WebSocket upgrade since 1.35).
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from datetime import datetime
from typing import BinaryIO

from aiohttp import web

from podtap.backends.local.kubeapi import execws, portforward, verbs
from podtap.backends.local.kubeapi.context import context_of
from podtap.backends.local.kubeapi.pod_access import PodAccess
from podtap.backends.local.kubeapi.routes import Target
from podtap.backends.local.kubeapi.status import ApiError, bad_request
from podtap.backends.local.kubeapi.store import Obj

SUBRESOURCES = ("log", "exec", "attach", "portforward")
POLL = 0.2


POD_ACCESS = web.AppKey("pod_access", PodAccess)


def verb_of(request: web.Request, target: Target) -> str:
    if target.subresource == "log":
        if request.method != "GET":
            raise ApiError(405, "MethodNotAllowed", "pods/log answers GET only")
        return "get"
    return "create"


def access_of(request: web.Request) -> PodAccess:
    access = request.app.get(POD_ACCESS)
    if access is None:
        raise ApiError(503, "ServiceUnavailable", "this API server runs no pods")
    return access


def container_of(pod: Obj, wanted: str) -> str:
    """The container a request names, or the pod's only one, as kube-apiserver chooses."""
    name = pod["metadata"]["name"]
    spec = pod.get("spec") or {}
    names = [c["name"] for c in spec.get("containers") or []]
    if not wanted:
        if len(names) == 1:
            return str(names[0])
        raise bad_request(
            f"a container name must be specified for pod {name}, choose one of: [{' '.join(names)}]"
        )
    if wanted not in names + [c["name"] for c in spec.get("ephemeralContainers") or []]:
        raise bad_request(f"container {wanted} is not valid for pod {name}")
    return wanted


async def serve(request: web.Request, target: Target) -> web.StreamResponse:
    """Answer one of SUBRESOURCES (authorized already)."""
    ctx = context_of(request)
    pod = verbs.get(ctx, Target(target.rt, target.namespace, target.name))
    access = access_of(request)
    if target.subresource == "portforward":
        return await portforward.serve(request, access, target.namespace, target.name)
    container = container_of(pod, request.query.get("container", ""))
    if target.subresource == "log":
        return await serve_log(request, access, target.namespace, target.name, container)
    return await execws.serve(
        request,
        access,
        target.namespace,
        target.name,
        container,
        attach=target.subresource == "attach",
    )


def _since(request: web.Request) -> float | None:
    q = request.query
    try:
        if q.get("sinceSeconds"):
            return time.time() - int(q["sinceSeconds"])
        if q.get("sinceTime"):
            return datetime.fromisoformat(q["sinceTime"].replace("Z", "+00:00")).timestamp()
    except ValueError as e:
        raise bad_request(f"invalid since: {e}") from e
    return None


def _int(request: web.Request, name: str) -> int | None:
    raw = request.query.get(name)
    try:
        return int(raw) if raw else None
    except ValueError as e:
        raise bad_request(f"invalid {name}: {raw}") from e


def _tail(fh: BinaryIO, lines: int) -> bytes:
    """The last `lines` lines of the file (the whole file is read: logs here are small)."""
    data = fh.read()
    if lines <= 0:
        return b""
    parts = data.splitlines(keepends=True)
    return b"".join(parts[-lines:])


async def serve_log(
    request: web.Request, access: PodAccess, namespace: str, pod: str, container: str
) -> web.StreamResponse:
    """The container's output as text; `follow` keeps sending until it stops.

    The node keeps no per-line times, so `since` is read from the log file's last write:
    a log untouched since then is empty, any other is sent whole.
    """
    path = access.log_path(namespace, pod, container)
    if not path.exists():
        raise bad_request(
            f'container "{container}" in pod "{pod}" is waiting to start: ContainerCreating'
        )
    follow = request.query.get("follow") in ("true", "1", "True")
    tail, limit, since = _int(request, "tailLines"), _int(request, "limitBytes"), _since(request)
    response = web.StreamResponse(headers={"Content-Type": "text/plain"})
    await response.prepare(request)
    closing = context_of(request).closing
    sent = 0
    with contextlib.suppress(ConnectionError), open(path, "rb") as fh:
        if since is not None and path.stat().st_mtime < since:
            fh.seek(0, 2)
        elif tail is not None:
            chunk = _tail(fh, tail)
            sent += len(chunk)
            await response.write(chunk[:limit] if limit is not None else chunk)
        while limit is None or sent < limit:
            chunk = fh.read(65536)
            if chunk:
                if limit is not None:
                    chunk = chunk[: limit - sent]
                sent += len(chunk)
                await response.write(chunk)
                continue
            if not follow or closing.is_set() or not access.running(namespace, pod, container):
                rest = fh.read()
                await response.write(rest if limit is None else rest[: limit - sent])
                break
            await asyncio.sleep(POLL)
        await response.write_eof()
    return response
