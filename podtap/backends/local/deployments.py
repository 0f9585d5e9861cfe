"""The deployment controller: a Deployment's ReplicaSets made, sized and pruned, its status.

What to do is `rollout`'s decision; this module reads the Deployment and the ReplicaSets it
owns from the store and writes the outcome back: a ReplicaSet for a new template (or the old
one brought back, as `kubectl rollout undo` does, with the next revision number), the sizes
of all of them, the history beyond `revisionHistoryLimit` deleted, the Deployment's
`deployment.kubernetes.io/revision` annotation and its status.
"""

from __future__ import annotations

from typing import Any

from podtap.backends.local import rollout
from podtap.backends.local.kubeapi import lifecycle, semantics
from podtap.backends.local.kubeapi.resources import ResourceType
from podtap.backends.local.kubeapi.store import Obj
from podtap.backends.local.objects import ApiObjects
from podtap.backends.local.podstatus import ReplicaCounts, deployment_status


def _revision(obj: Obj) -> int:
    value = (obj["metadata"].get("annotations") or {}).get(rollout.REVISION, "0")
    return int(value) if str(value).isdigit() else 0


def _owned(objects: ApiObjects, rs_rt: ResourceType, deployment: Obj) -> list[Obj]:
    uid = deployment["metadata"].get("uid")
    return [
        rs
        for rs in objects.raw_items(rs_rt, deployment["metadata"].get("namespace", "default"))
        if not rs["metadata"].get("deletionTimestamp")
        and any(
            r.get("uid") == uid and r.get("controller")
            for r in rs["metadata"].get("ownerReferences") or []
        )
    ]


def _view(rs: Obj) -> rollout.Set:
    status = rs.get("status") or {}
    return rollout.Set(
        name=rs["metadata"]["name"],
        revision=_revision(rs),
        replicas=int((rs.get("spec") or {}).get("replicas", 1)),
        pods=int(status.get("replicas") or 0),
        available=int(status.get("availableReplicas") or 0),
    )


def _set_annotation(obj: Obj, key: str, value: str) -> bool:
    annotations = obj["metadata"].setdefault("annotations", {})
    if annotations.get(key) == value:
        return False
    annotations[key] = value
    return True


def _new_set(objects: ApiObjects, rs_rt: ResourceType, deployment: Obj, owned: list[Obj]) -> Obj:
    """The ReplicaSet of the Deployment's template: found, revived or made."""
    hash_ = rollout.template_hash(deployment["spec"]["template"])
    top = max((_revision(rs) for rs in owned), default=0)
    for rs in owned:
        if rollout.template_hash(rs["spec"]["template"]) == hash_:
            if _revision(rs) < top:
                _set_annotation(rs, rollout.REVISION, str(top + 1))
                return objects.put(rs_rt, rs)
            return rs
    meta = deployment["metadata"]
    body = rollout.replica_set(deployment, uid=meta["uid"], hash_=hash_, revision=top + 1)
    obj = semantics.prepare_create(rs_rt, body, namespace=meta.get("namespace", "default"))
    key = objects.key(rs_rt, obj["metadata"]["namespace"], obj["metadata"]["name"])
    found = objects.ctx.store.get(key)
    return found if found is not None else objects.create(rs_rt, key, obj)


def reconcile(objects: ApiObjects) -> None:
    """One pass over every Deployment: its ReplicaSets as the rollout wants them."""
    dep_rt, rs_rt = objects.type_of("Deployment"), objects.type_of("ReplicaSet")
    assert dep_rt is not None and rs_rt is not None
    for deployment in objects.raw_items(dep_rt):
        if deployment["metadata"].get("deletionTimestamp"):
            continue
        spec = deployment.get("spec") or {}
        owned = _owned(objects, rs_rt, deployment)
        new = _new_set(objects, rs_rt, deployment, owned)
        old = [rs for rs in owned if rs["metadata"]["name"] != new["metadata"]["name"]]
        wanted = rollout.sizes(
            desired=int(spec.get("replicas", 1)),
            strategy=rollout.strategy_of(spec),
            new=_view(new),
            old=[_view(rs) for rs in old],
        )
        for rs in (new, *old):
            size = wanted[rs["metadata"]["name"]]
            if int(rs["spec"].get("replicas", 1)) != size:
                rs["spec"]["replicas"] = size
                rs["metadata"]["generation"] = int(rs["metadata"].get("generation", 1)) + 1
                objects.put(rs_rt, rs)
        limit = spec.get("revisionHistoryLimit")
        for name in rollout.expired([_view(rs) for rs in old], limit=limit):
            lifecycle.remove(
                objects.ctx, rs_rt, objects.key(rs_rt, new["metadata"]["namespace"], name)
            )
        if _set_annotation(deployment, rollout.REVISION, str(_revision(new))):
            objects.put(dep_rt, deployment)


def report(objects: ApiObjects, *, now: str) -> None:
    """Each Deployment's status from its ReplicaSets'."""
    dep_rt, rs_rt = objects.type_of("Deployment"), objects.type_of("ReplicaSet")
    assert dep_rt is not None and rs_rt is not None
    for deployment in objects.raw_items(dep_rt):
        hash_ = rollout.template_hash(deployment["spec"]["template"])
        owned = _owned(objects, rs_rt, deployment)
        new: dict[str, Any] = next(
            (rs for rs in owned if rollout.template_hash(rs["spec"]["template"]) == hash_),
            {"metadata": {"name": f"{deployment['metadata']['name']}-{hash_}"}},
        )
        statuses = [rs.get("status") or {} for rs in owned]
        new_status = new.get("status") or {}
        counts = ReplicaCounts(
            replicas=sum(int(s.get("replicas") or 0) for s in statuses),
            updated=int(new_status.get("replicas") or 0),
            ready=sum(int(s.get("availableReplicas") or 0) for s in statuses),
            updated_ready=int(new_status.get("availableReplicas") or 0),
        )
        old = deployment.get("status") or {}
        name = new["metadata"]["name"]
        status = deployment_status(deployment, counts, revision=name, old=old, now=now)
        if status != old:
            deployment["status"] = status
            objects.put(dep_rt, deployment)
