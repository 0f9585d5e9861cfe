"""List, then watch from the list's resourceVersion, for as long as the caller reads.

What an informer does, without its cache: the initial listing comes as ADDED events and one
BOOKMARK; then a watch with ``allowWatchBookmarks`` (the server's bookmarks only move the
resourceVersion on). A stream that ends (the server's timeout, a dropped connection) is
opened again from the last version seen; a 410 Expired (that version left the server's
history) lists again and reports what changed meanwhile as ADDED, MODIFIED and DELETED
against what the caller was told. Nothing polls: each wait is on the server's stream.
"""

from __future__ import annotations

import asyncio
import json
import logging
from collections.abc import AsyncIterator
from typing import Any

import aiohttp

from podtap.backends.base import ResourceEvent
from podtap.backends.kubernetes.discovery import ResourceType
from podtap.backends.kubernetes.resources import Resources
from podtap.backends.kubernetes.rest import ApiError, Rest

__all__ = ["watch"]

log = logging.getLogger(__name__)
Key = tuple[str, str]
#: How long one watch request asks the server to keep it open.
WATCH_SECONDS = 300
#: Pauses between attempts after a failed connection (the last one repeats).
PAUSES = (0.05, 0.2, 0.5, 1.0, 2.0, 5.0)


class _Expired(Exception):
    """The version to resume from is no longer in the server's history (410)."""


def _key(obj: dict[str, Any]) -> Key:
    meta = obj.get("metadata") or {}
    return str(meta.get("namespace", "")), str(meta.get("name", ""))


def _version(obj: dict[str, Any]) -> str:
    return str((obj.get("metadata") or {}).get("resourceVersion", ""))


async def _events(rest: Rest, rt: ResourceType, since: str) -> AsyncIterator[dict[str, Any]]:
    query = [
        ("watch", "true"),
        ("resourceVersion", since),
        ("allowWatchBookmarks", "true"),
        ("timeoutSeconds", str(WATCH_SECONDS)),
    ]
    try:
        response = await rest.stream(rt.path(), query=query, read_timeout=WATCH_SECONDS + 30)
    except ApiError as exc:
        if exc.code == 410:
            raise _Expired from None
        raise
    async with response:
        while line := await response.content.readline():
            if not line.strip():
                continue
            event: dict[str, Any] = json.loads(line)
            if event.get("type") == "ERROR":
                status = event.get("object") or {}
                if status.get("code") == 410:
                    raise _Expired
                raise ApiError(
                    code=int(status.get("code") or 500),
                    reason=str(status.get("reason", "")),
                    message=str(status.get("message", "watch failed")),
                    status=status,
                )
            yield event


def _changes(known: dict[Key, dict[str, Any]], items: list[dict[str, Any]]) -> list[ResourceEvent]:
    """What a fresh listing says happened since `known` (which it replaces)."""
    fresh = {_key(o): o for o in items}
    out = [ResourceEvent("DELETED", known[k]) for k in known if k not in fresh]
    for k, obj in fresh.items():
        if k not in known:
            out.append(ResourceEvent("ADDED", obj))
        elif _version(known[k]) != _version(obj):
            out.append(ResourceEvent("MODIFIED", obj))
    known.clear()
    known.update(fresh)
    return out


async def watch(rest: Rest, resources: Resources, rt: ResourceType) -> AsyncIterator[ResourceEvent]:
    known: dict[Key, dict[str, Any]] = {}
    items, since = await resources.listing(rt)
    for change in _changes(known, items):
        yield change
    yield ResourceEvent("BOOKMARK", {})
    failures, expired = 0, False
    while True:
        try:
            if expired:
                items, since = await resources.listing(rt)
                expired = False
                for change in _changes(known, items):
                    yield change
            async for raw in _events(rest, rt, since):
                failures = 0
                obj = raw["object"]
                since = _version(obj) or since
                if raw["type"] == "BOOKMARK":
                    continue
                if raw["type"] == "DELETED":
                    known.pop(_key(obj), None)
                else:
                    known[_key(obj)] = obj
                yield ResourceEvent(raw["type"], obj)
        except _Expired:
            log.info("watch of %s: version %s expired, listing again", rt.plural, since)
            expired = True
        except (aiohttp.ClientError, TimeoutError, ConnectionError, ApiError) as exc:
            if isinstance(exc, ApiError) and 400 <= exc.code < 500 and exc.code != 429:
                raise  # refused (forbidden, gone): trying again would not help
            pause = PAUSES[min(failures, len(PAUSES) - 1)]
            failures += 1
            log.info("watch of %s dropped (%s); again in %.2fs", rt.plural, exc, pause)
            await asyncio.sleep(pause)
