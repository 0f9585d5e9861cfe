"""The node's object store: every applied object, persisted as JSON, with watchers."""

from __future__ import annotations

import asyncio
import json
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from pydantic import BaseModel

from podtap.backends.local.manifests import KINDS, Manifest, Unknown

Key = tuple[str, str, str]  # kind, namespace ("" if cluster-scoped), name


@dataclass(slots=True)
class Stored:
    raw: dict[str, Any]
    model: BaseModel
    uid: str
    created: float
    version: int

    def as_json(self) -> dict[str, Any]:
        meta = dict(self.raw.get("metadata") or {})
        meta.update(
            uid=self.uid,
            resourceVersion=str(self.version),
            creationTimestamp=time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(self.created)),
        )
        return {**self.raw, "metadata": meta}


@dataclass(frozen=True, slots=True)
class WatchEvent:
    type: str  # ADDED | MODIFIED | DELETED
    kind: str
    object: dict[str, Any]


class Store:
    def __init__(self, path: Path) -> None:
        self._path = path
        self._objects: dict[Key, Stored] = {}
        self._version = 0
        self._watchers: set[asyncio.Queue[WatchEvent]] = set()
        if path.exists():
            for item in json.loads(path.read_text()):
                self._put_raw(item["raw"], uid=item["uid"], created=item["created"])

    def _put_raw(self, raw: dict[str, Any], *, uid: str, created: float) -> Stored:
        kind = raw["kind"]
        model = KINDS.get(kind, Unknown).model_validate(raw)
        ns = "" if kind == "Namespace" else raw["metadata"].get("namespace") or "default"
        raw["metadata"]["namespace"] = ns or None
        self._version += 1
        stored = Stored(raw, model, uid, created, self._version)
        self._objects[(kind, ns, raw["metadata"]["name"])] = stored
        return stored

    def _save(self) -> None:
        data = [{"raw": s.raw, "uid": s.uid, "created": s.created} for s in self._objects.values()]
        tmp = self._path.with_suffix(".tmp")
        tmp.write_text(json.dumps(data))
        tmp.replace(self._path)

    def _notify(self, kind: str, event: str, stored: Stored) -> None:
        for queue in self._watchers:
            queue.put_nowait(WatchEvent(event, kind, stored.as_json()))

    def put(self, manifest: Manifest) -> str:
        """Store an object; returns created, configured or unchanged."""
        old = self._objects.get(manifest.key)
        raw = json.loads(json.dumps(manifest.raw))
        raw.setdefault("metadata", {})["namespace"] = manifest.namespace
        if old is not None and old.raw == raw:
            return "unchanged"
        if manifest.kind == "Service" and old is not None:
            old_ip = old.raw.get("spec", {}).get("clusterIP")
            if old_ip and not raw.get("spec", {}).get("clusterIP"):
                raw["spec"]["clusterIP"] = old_ip
                if old.raw == raw:
                    return "unchanged"
        stored = self._put_raw(
            raw,
            uid=old.uid if old else str(uuid.uuid4()),
            created=old.created if old else time.time(),
        )
        self._save()
        self._notify(manifest.kind, "MODIFIED" if old else "ADDED", stored)
        return "configured" if old else "created"

    def delete(self, key: Key) -> bool:
        stored = self._objects.pop(key, None)
        if stored is None:
            return False
        self._save()
        self._notify(key[0], "DELETED", stored)
        return True

    def get(self, kind: str, namespace: str, name: str) -> Stored | None:
        return self._objects.get((kind, namespace, name))

    def items(
        self, kind: str | None = None, namespace: str | None = None
    ) -> Iterator[tuple[Key, Stored]]:
        for key, stored in sorted(self._objects.items()):
            if (kind is None or key[0] == kind) and (
                namespace is None or key[1] in (namespace, "")
            ):
                yield key, stored

    def watch(self) -> asyncio.Queue[WatchEvent]:
        queue: asyncio.Queue[WatchEvent] = asyncio.Queue()
        self._watchers.add(queue)
        return queue

    def unwatch(self, queue: asyncio.Queue[WatchEvent]) -> None:
        self._watchers.discard(queue)
