"""Events (core/v1) for what the cluster does, as the scheduler, kubelet and controllers post them.

`kubectl describe` ends with the events it lists by `involvedObject.*` field selector; a real
cluster has them from its components. Here they are read off the store's own changes, so no
controller has to be told: a Pod that gets a node was Scheduled (default-scheduler); a
container whose running state starts was Created and Started, one of a pod being deleted is
Killing (kubelet); a Pod added or removed with a ReplicaSet as controller is SuccessfulCreate
or SuccessfulDelete for that set (replicaset-controller); a ReplicaSet of a Deployment whose
`spec.replicas` changes is ScalingReplicaSet for the Deployment (deployment-controller). The
reasons and messages are upstream's. `notes()` decides (pure); `EventRecorder` writes them
after the change that caused them, never from inside the store's notification, and drops
events last seen over an hour ago (kube-apiserver's `--event-ttl`, 1h by default).
"""

from __future__ import annotations

import asyncio
import datetime
import time
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from podtap.backends.local.kubeapi import semantics
from podtap.backends.local.kubeapi.context import ApiContext
from podtap.backends.local.kubeapi.store import Event, Key, Obj

NODE = "podtap-local"
EVENT_TTL = 3600.0


@dataclass(frozen=True)
class Note:
    """One event to post: about `involved`, from `component`."""

    involved: Obj
    reason: str
    message: str
    component: str
    field_path: str = ""
    warning: bool = False  # type Warning (a probe failed), else Normal


def _controller(obj: Obj, kind: str) -> Obj | None:
    for ref in obj["metadata"].get("ownerReferences") or ():
        if ref.get("controller") and ref.get("kind") == kind:
            return {**ref, "namespace": obj["metadata"].get("namespace", "")}
    return None


def _running(pod: Obj | None) -> dict[str, str]:
    """Container name -> the startedAt of its running state."""
    statuses = ((pod or {}).get("status") or {}).get("containerStatuses") or ()
    return {
        s["name"]: s["state"]["running"].get("startedAt", "")
        for s in statuses
        if "running" in (s.get("state") or {})
    }


def _pod_notes(event: Event) -> list[Note]:
    pod = event.obj
    notes = [] if event.type == "DELETED" else _kubelet_notes(event)
    owner = _controller(pod, "ReplicaSet")
    if owner is not None and event.type in ("ADDED", "DELETED"):
        verb = "Created" if event.type == "ADDED" else "Deleted"
        reason = "SuccessfulCreate" if event.type == "ADDED" else "SuccessfulDelete"
        msg = f"{verb} pod: {pod['metadata']['name']}"
        notes.append(Note(owner, reason, msg, "replicaset-controller"))
    return notes


def _kubelet_notes(event: Event) -> list[Note]:
    """What the scheduler and the kubelet say of a pod added or changed."""
    pod, prev = event.obj, event.prev
    name = f"{pod['metadata'].get('namespace', '')}/{pod['metadata']['name']}"
    notes = []
    node = (pod.get("spec") or {}).get("nodeName")
    if node and (event.type == "ADDED" or not (prev or {}).get("spec", {}).get("nodeName")):
        msg = f"Successfully assigned {name} to {node}"
        notes.append(Note(pod, "Scheduled", msg, "default-scheduler"))
    before = _running(prev) if event.type == "MODIFIED" else {}
    for container, started in _running(pod).items():
        if before.get(container) != started:
            path = f"spec.containers{{{container}}}"
            notes.append(Note(pod, "Created", f"Created container: {container}", "kubelet", path))
            notes.append(Note(pod, "Started", f"Started container {container}", "kubelet", path))
    deleting = pod["metadata"].get("deletionTimestamp")
    if deleting and not (prev or {}).get("metadata", {}).get("deletionTimestamp"):
        for container in _running(pod):
            path = f"spec.containers{{{container}}}"
            msg = f"Stopping container {container}"
            notes.append(Note(pod, "Killing", msg, "kubelet", path))
    return notes


def _replica_set_notes(event: Event) -> list[Note]:
    rs, prev = event.obj, event.prev
    owner = _controller(rs, "Deployment")
    if owner is None or event.type == "DELETED":
        return []
    now = int((rs.get("spec") or {}).get("replicas", 1))
    was = int((prev or {}).get("spec", {}).get("replicas", 0)) if prev else 0
    if now == was:
        return []
    way = "up" if now > was else "down"
    msg = f"Scaled {way} replica set {rs['metadata']['name']} from {was} to {now}"
    return [Note(owner, "ScalingReplicaSet", msg, "deployment-controller")]


def notes(event: Event) -> list[Note]:
    """The events a change of the store stands for (none for most)."""
    if event.key.group == "" and event.key.plural == "pods":
        return _pod_notes(event)
    if event.key.group == "apps" and event.key.plural == "replicasets":
        return _replica_set_notes(event)
    return []


def event_object(note: Note, *, stamp: str) -> Obj:
    """The core/v1 Event a component posts for `note` (count 1, first and last seen now)."""
    involved = note.involved
    meta = involved.get("metadata") or involved  # a stored object, or an ownerReference
    namespace = meta.get("namespace", "") or "default"
    ref: dict[str, Any] = {
        "kind": involved.get("kind", ""),
        "namespace": namespace,
        "name": meta["name"],
        "uid": meta["uid"],
        "apiVersion": involved.get("apiVersion", ""),
    }
    if "resourceVersion" in meta:
        ref["resourceVersion"] = meta["resourceVersion"]
    if note.field_path:
        ref["fieldPath"] = note.field_path
    source = {"component": note.component}
    if note.component == "kubelet":
        source["host"] = NODE
    return {
        "metadata": {"name": f"{meta['name']}.{time.time_ns():x}", "namespace": namespace},
        "involvedObject": ref,
        "reason": note.reason,
        "message": note.message,
        "source": source,
        "firstTimestamp": stamp,
        "lastTimestamp": stamp,
        "count": 1,
        "type": "Warning" if note.warning else "Normal",
        "eventTime": None,
        "reportingComponent": note.component,
        "reportingInstance": NODE if note.component == "kubelet" else "",
    }


def _seconds(stamp: str) -> float:
    then = datetime.datetime.strptime(stamp, "%Y-%m-%dT%H:%M:%SZ")
    return then.replace(tzinfo=datetime.UTC).timestamp()


def expired(events: Iterable[Obj], *, now: float, ttl: float = EVENT_TTL) -> list[Key]:
    """The events whose time to live is over (from their last sighting, as etcd's lease)."""
    out = []
    for ev in events:
        stamp = ev.get("lastTimestamp") or ev["metadata"].get("creationTimestamp")
        if isinstance(stamp, str) and _seconds(stamp) + ttl <= now:
            meta = ev["metadata"]
            out.append(Key("", "events", meta.get("namespace", ""), meta["name"]))
    return out


class EventRecorder:
    """Posts the events of every change, after it (store listeners must not write), and
    drops those past their time to live (checked at most every `prune_every` seconds)."""

    def __init__(self, ctx: ApiContext, *, ttl: float = EVENT_TTL, prune_every: float = 60.0):
        self.ctx = ctx
        self.ttl = ttl
        self.prune_every = prune_every
        self._heard: asyncio.Queue[Event] = asyncio.Queue()

    async def run(self) -> None:
        stop = self.ctx.store.listen(self._heard.put_nowait)
        loop = asyncio.get_running_loop()
        due = loop.time()
        try:
            while True:
                if loop.time() >= due:
                    self._prune()
                    due = loop.time() + self.prune_every
                try:
                    event = await asyncio.wait_for(self._heard.get(), due - loop.time())
                except TimeoutError:
                    continue
                for note in notes(event):
                    self._post(note)
        finally:
            stop()

    def _prune(self) -> None:
        stored = self.ctx.store.items(group="", plural="events")
        for key in expired(stored, now=time.time(), ttl=self.ttl):
            self.ctx.store.delete(key)

    def _post(self, note: Note) -> None:
        post(self.ctx, note)


def post(ctx: ApiContext, note: Note) -> None:
    """Store the event for `note` now (a component's own report, not a store listener's)."""
    rt = ctx.registry.get(group="", version="v1", plural="events")
    assert rt is not None
    body = event_object(note, stamp=semantics.now())
    namespace = body["metadata"]["namespace"]
    ns = ctx.store.get(Key("", "namespaces", "", namespace))
    if ns is None or ns["metadata"].get("deletionTimestamp"):
        return  # its namespace is going (with what it was about), as upstream refuses
    obj = semantics.prepare_create(rt, body, namespace=namespace)
    ctx.store.put(Key("", "events", namespace, obj["metadata"]["name"]), obj)
