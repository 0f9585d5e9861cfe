"""Watch: a stream of `{"type": ..., "object": ...}` lines, as kube-apiserver sends them.

From resourceVersion "" or "0" the stream starts with an ADDED event per existing object
("any state", like the watch cache); from a version N it replays the kept history after N,
then follows live changes. A version older than the kept history is answered the way the
real server does it: status 200 and a single ERROR event carrying the 410 `Expired` Status,
which client-go and kubernetes_asyncio turn into a relist. With `allowWatchBookmarks` a
BOOKMARK carrying only the current resourceVersion is sent every `bookmark_interval`, and
`sendInitialEvents=true` ends the initial ADDED burst with the bookmark annotated
`k8s.io/initial-events-end`. The stream ends at `timeoutSeconds`, when the client goes away,
or when the server stops.
"""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass

from aiohttp import web

from podtap.backends.local.kubeapi.context import ApiContext
from podtap.backends.local.kubeapi.routes import Target
from podtap.backends.local.kubeapi.status import expired
from podtap.backends.local.kubeapi.store import Event, Key, Obj, TooOld

_POLL = 0.5  # how often an idle watch checks that its client is still there


@dataclass(frozen=True)
class WatchOptions:
    resource_version: str = ""
    timeout: float | None = None
    bookmarks: bool = False
    send_initial: bool = False


def _selects(target: Target, key: Key) -> bool:
    return (
        key.group == target.rt.group
        and key.plural == target.rt.plural
        and (not target.namespace or key.namespace == target.namespace)
        and (not target.name or key.name == target.name)
    )


def _initial(ctx: ApiContext, target: Target) -> list[Event]:
    items = ctx.store.items(
        group=target.rt.group, plural=target.rt.plural, namespace=target.namespace
    )
    out = []
    for obj in items:
        meta = obj["metadata"]
        key = Key(target.rt.group, target.rt.plural, meta.get("namespace", ""), meta["name"])
        out.append(Event("ADDED", int(meta["resourceVersion"]), key, obj))
    return out


def shown_as(event: Event, matches: Callable[[Obj], bool]) -> str | None:
    """The event type a filtered watch sends, if any: an object modified into the selector is
    ADDED for it, one modified out of it DELETED, as the watch cache filters."""
    now = matches(event.obj)
    if event.type != "MODIFIED" or event.prev is None:
        return event.type if now else None
    before = matches(event.prev)
    if now:
        return "MODIFIED" if before else "ADDED"
    return "DELETED" if before else None


def _bookmark(target: Target, rv: int, *, initial_end: bool = False) -> Obj:
    meta: Obj = {"resourceVersion": str(rv)}
    if initial_end:
        meta["annotations"] = {"k8s.io/initial-events-end": "true"}
    return {"kind": target.rt.kind, "apiVersion": target.rt.api_version, "metadata": meta}


async def serve(
    request: web.Request,
    ctx: ApiContext,
    target: Target,
    *,
    options: WatchOptions,
    matches: Callable[[Obj], bool],
    render: Callable[[Obj], Obj],
) -> web.StreamResponse:
    """Stream events for `target` until timeout, disconnect or shutdown."""
    queue: asyncio.Queue[Event] = asyncio.Queue()
    stop_listening = ctx.store.listen(queue.put_nowait)
    try:
        response = web.StreamResponse(headers={"Content-Type": "application/json"})
        await response.prepare(request)

        async def send(kind: str, obj: Obj) -> None:
            await response.write(json.dumps({"type": kind, "object": obj}).encode() + b"\n")

        rv = options.resource_version
        try:
            if options.send_initial or rv in ("", "0"):
                backlog, last = _initial(ctx, target), ctx.store.revision
            else:
                backlog, last = list(ctx.store.since(int(rv))), int(rv)
        except TooOld as e:
            await send("ERROR", expired(e.requested, e.oldest).body())
            return response
        for event in backlog:
            shown = shown_as(event, matches) if _selects(target, event.key) else None
            if shown is not None:
                await send(shown, render(event.obj))
            last = max(last, event.rv)
        if options.send_initial and options.bookmarks:
            await send("BOOKMARK", _bookmark(target, last, initial_end=True))
        await _follow(request, ctx, target, queue, send, options, matches, render, last)
        return response
    finally:
        stop_listening()


async def _follow(
    request: web.Request,
    ctx: ApiContext,
    target: Target,
    queue: asyncio.Queue[Event],
    send: Callable[[str, Obj], Awaitable[None]],
    options: WatchOptions,
    matches: Callable[[Obj], bool],
    render: Callable[[Obj], Obj],
    last: int,
) -> None:
    loop = asyncio.get_running_loop()
    deadline = loop.time() + (options.timeout if options.timeout is not None else ctx.watch_timeout)
    next_bookmark = time.monotonic() + ctx.bookmark_interval
    while not ctx.closing.is_set() and loop.time() < deadline:
        transport = request.transport
        if transport is None or transport.is_closing():
            return
        wait = min(_POLL, deadline - loop.time(), max(0.0, next_bookmark - time.monotonic()))
        try:
            event = await asyncio.wait_for(queue.get(), timeout=max(wait, 0.0))
        except TimeoutError:
            if options.bookmarks and time.monotonic() >= next_bookmark:
                await send("BOOKMARK", _bookmark(target, max(last, ctx.store.revision)))
                next_bookmark = time.monotonic() + ctx.bookmark_interval
            continue
        if event.rv <= last:
            continue  # already sent from the backlog
        last = event.rv
        shown = shown_as(event, matches) if _selects(target, event.key) else None
        if shown is not None:
            await send(shown, render(event.obj))
