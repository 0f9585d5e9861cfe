"""The object store: every object of the cluster, one global resourceVersion, a watch history.

Like etcd under kube-apiserver, every write gets the next value of one cluster-wide counter,
which becomes the object's `metadata.resourceVersion` and the list's; watches resume from it.
The store keeps the last `history` events so a watch from a recent version replays what it
missed, and answers `Expired` for an older one (the client then relists) — the contract
client-go and kubernetes_asyncio reflectors are built on. It holds plain JSON dicts and knows
nothing of HTTP; semantics that depend on the resource (generation, names, status) are in
`semantics.py`. `snapshot`/`restore` are the persistence hook: the node saves the snapshot as
JSON and restores it at start, so versions keep growing across restarts.
"""

from __future__ import annotations

import copy
from collections import deque
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any, Literal

Obj = dict[str, Any]
EventType = Literal["ADDED", "MODIFIED", "DELETED"]


@dataclass(frozen=True)
class Key:
    """Where an object lives: group and plural (not version), namespace ("" if cluster), name."""

    group: str
    plural: str
    namespace: str
    name: str


@dataclass(frozen=True)
class Event:
    type: EventType
    rv: int
    key: Key
    obj: Obj
    # The object before a MODIFIED, so a filtered watch sees it enter or leave its selector.
    prev: Obj | None = None


class TooOld(Exception):
    """A watch asked for a version older than the kept history."""

    def __init__(self, *, requested: int, oldest: int) -> None:
        super().__init__(requested, oldest)
        self.requested = requested
        self.oldest = oldest


class Store:
    """Objects by key, a global revision, the recent events and their listeners."""

    def __init__(self, *, history: int = 1000, on_commit: Callable[[], None] | None = None):
        self._objects: dict[Key, Obj] = {}
        self._rv = 0
        self._history: deque[Event] = deque(maxlen=history)
        self._floor = 0  # every event after this revision is still in the history
        self._listeners: set[Callable[[Event], None]] = set()
        self._on_commit = on_commit

    @property
    def revision(self) -> int:
        return self._rv

    def get(self, key: Key) -> Obj | None:
        obj = self._objects.get(key)
        return copy.deepcopy(obj) if obj is not None else None

    def items(self, *, group: str, plural: str, namespace: str = "") -> list[Obj]:
        """Objects of one resource (in one namespace, or all when ""), in etcd key order."""
        keys = sorted(
            (k for k in self._objects if k.group == group and k.plural == plural),
            key=lambda k: (k.namespace, k.name),
        )
        return [
            copy.deepcopy(self._objects[k])
            for k in keys
            if not namespace or k.namespace == namespace
        ]

    def keys_in_namespace(self, namespace: str) -> list[Key]:
        return [k for k in self._objects if k.namespace == namespace]

    def dependents(self, uid: str, *, blocking: bool = False) -> list[Key]:
        """Objects whose ownerReferences name `uid` (with blockOwnerDeletion, if `blocking`)."""
        return [
            key
            for key, obj in self._objects.items()
            if any(
                ref.get("uid") == uid and (ref.get("blockOwnerDeletion") or not blocking)
                for ref in obj["metadata"].get("ownerReferences") or ()
            )
        ]

    def put(self, key: Key, obj: Obj) -> Obj:
        """Create or replace; stamps the next resourceVersion and tells the listeners."""
        prev = self._objects.get(key)
        kind: EventType = "MODIFIED" if prev is not None else "ADDED"
        self._rv += 1
        stored = copy.deepcopy(obj)
        stored.setdefault("metadata", {})["resourceVersion"] = str(self._rv)
        self._objects[key] = stored
        self._emit(Event(kind, self._rv, key, stored, prev))
        return copy.deepcopy(stored)

    def delete(self, key: Key) -> Obj | None:
        obj = self._objects.pop(key, None)
        if obj is None:
            return None
        self._rv += 1
        obj["metadata"]["resourceVersion"] = str(self._rv)
        self._emit(Event("DELETED", self._rv, key, obj))
        return copy.deepcopy(obj)

    def _emit(self, event: Event) -> None:
        if len(self._history) == self._history.maxlen:
            self._floor = self._history[0].rv
        self._history.append(event)
        for listener in list(self._listeners):
            listener(event)
        if self._on_commit is not None:
            self._on_commit()

    def since(self, rv: int) -> Iterator[Event]:
        """Events after `rv`, oldest first; TooOld when some of them are no longer kept."""
        if rv < self._floor:
            oldest = self._history[0].rv if self._history else self._rv + 1
            raise TooOld(requested=rv, oldest=oldest)
        return iter([e for e in self._history if e.rv > rv])

    def listen(self, listener: Callable[[Event], None]) -> Callable[[], None]:
        """Call `listener` for each event from now on; returns the function that stops it."""
        self._listeners.add(listener)
        return lambda: self._listeners.discard(listener)

    def snapshot(self) -> Obj:
        """Everything needed to restart: revision and objects (history is not kept)."""
        return {
            "resourceVersion": self._rv,
            "objects": [
                {"group": k.group, "plural": k.plural, "namespace": k.namespace, "object": o}
                for k, o in self._objects.items()
            ],
        }

    def restore(self, data: Obj) -> None:
        """Load a snapshot; watches from before it get Expired, as after an etcd compaction."""
        self._objects.clear()
        self._history.clear()
        for entry in data.get("objects", []):
            meta = entry["object"]["metadata"]
            key = Key(entry["group"], entry["plural"], entry["namespace"], meta["name"])
            self._objects[key] = entry["object"]
        self._rv = int(data.get("resourceVersion", 0))
        self._floor = self._rv
