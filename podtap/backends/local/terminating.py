"""The kubelet's part of a pod's graceful deletion: which pods the API has marked, and the
final DELETE (grace 0) once their containers have stopped, that lets the object go.

The API server only marks a deleted pod (`deletionTimestamp`, `deletionGracePeriodSeconds`);
the kubelet stops its containers — SIGTERM, SIGKILL after the grace, capped by the node's own
stop grace — and deletes it again with grace 0 and the pod's uid as precondition, so a new
pod of the same name is never taken for the old one.
"""

from __future__ import annotations

from dataclasses import dataclass

from podtap.backends.local.container import STOP_GRACE
from podtap.backends.local.kubeapi import lifecycle
from podtap.backends.local.objects import ApiObjects


@dataclass(frozen=True, slots=True)
class Marked:
    uid: str
    grace: float  # how long the node waits after SIGTERM


def marked(objects: ApiObjects) -> dict[tuple[str, str], Marked]:
    """The pods being deleted, by (namespace, name), with the grace their containers get."""
    rt = objects.type_of("Pod")
    out: dict[tuple[str, str], Marked] = {}
    for obj in [] if rt is None else objects.raw_items(rt):
        meta = obj["metadata"]
        if meta.get("deletionTimestamp"):
            # (0: finalizers hold a force-deleted pod; the node then uses its own grace)
            grace = min(float(meta.get("deletionGracePeriodSeconds") or STOP_GRACE), STOP_GRACE)
            key = (str(meta.get("namespace", "")), str(meta["name"]))
            out[key] = Marked(str(meta.get("uid", "")), grace)
    return out


def finish(objects: ApiObjects, key: tuple[str, str], *, uid: str) -> None:
    """Delete the stopped pod `key` with grace 0 (if it is still the pod of that uid)."""
    rt = objects.type_of("Pod")
    obj = None if rt is None else objects.raw("Pod", *key)
    if rt is None or obj is None or obj["metadata"].get("uid") != uid:
        return
    if not obj["metadata"].get("deletionTimestamp"):
        return
    lifecycle.delete(objects.ctx, rt, obj, policy="Background", dry_run=False, grace=0)
