"""Deletion as kube-apiserver and its controllers carry it out: finalizers, owners, namespaces.

On a real cluster a DELETE only *starts* a deletion when something holds the object: its
`metadata.finalizers`, a `Foreground` propagation (the `foregroundDeletion` finalizer, held
until the dependents that `blockOwnerDeletion` are gone), or — for a namespace — its content.
The object then stays, with `deletionTimestamp` set, until the last finalizer is removed by
an update. The garbage collector deletes the dependents of a deleted owner (objects whose
`ownerReferences` name its uid) unless the deletion was `Orphan`, which strips those
references instead; the namespace controller turns a deleted namespace `Terminating`,
deletes everything in it and then lets it go. Those controllers run inline here, after the
write that triggers them, so the outcome is the same and is visible in the very next request
(and to watchers as the same MODIFIED/DELETED events). A pod on a node is deleted
gracefully (`graceful.py`): marked, it stays until its kubelet deletes it with grace 0.
"""

from __future__ import annotations

import copy

from podtap.backends.local.kubeapi import graceful, kinds
from podtap.backends.local.kubeapi.context import ApiContext
from podtap.backends.local.kubeapi.resources import ResourceType
from podtap.backends.local.kubeapi.store import Key, Obj

ORPHAN = "orphan"
FOREGROUND = "foregroundDeletion"
NAMESPACE_FINALIZER = "kubernetes"
POLICIES = ("Orphan", "Background", "Foreground")


def type_of(ctx: ApiContext, key: Key) -> ResourceType | None:
    return next(
        (rt for rt in ctx.registry.all() if (rt.group, rt.plural) == (key.group, key.plural)),
        None,
    )


def _key(rt: ResourceType, obj: Obj) -> Key:
    meta = obj["metadata"]
    return Key(rt.group, rt.plural, str(meta.get("namespace", "")), str(meta["name"]))


def _held(ctx: ApiContext, rt: ResourceType, obj: Obj, policy: str) -> bool:
    meta = obj["metadata"]
    if meta.get("finalizers") or rt is kinds.NAMESPACES:
        return True
    return policy == "Foreground" and bool(ctx.store.dependents(str(meta.get("uid"))))


def _is_pod(rt: ResourceType) -> bool:
    return (rt.group, rt.plural) == ("", "pods")


def _grace(ctx: ApiContext, rt: ResourceType, obj: Obj, asked: int | None) -> int:
    """A pod's grace; 0 on a node that does not exist: no kubelet would ever end it, and
    the pod garbage collector deletes such orphans by force (here inline, at once)."""
    node = str((obj.get("spec") or {}).get("nodeName") or "")
    if not _is_pod(rt) or ctx.store.get(Key("", "nodes", "", node)) is None:
        return 0
    return graceful.period(obj, asked=asked)


def _marked(rt: ResourceType, obj: Obj, *, foreground: bool, grace: int = 0) -> Obj:
    out = copy.deepcopy(obj)
    meta = out["metadata"]
    graceful.marked(out, grace)
    if foreground and FOREGROUND not in (meta.get("finalizers") or []):
        meta["finalizers"] = [*(meta.get("finalizers") or []), FOREGROUND]
    if rt is kinds.NAMESPACES:
        out.setdefault("status", {})["phase"] = "Terminating"
    return out


def delete(
    ctx: ApiContext,
    rt: ResourceType,
    obj: Obj,
    *,
    policy: str,
    dry_run: bool,
    grace: int | None = None,
) -> Obj | None:
    """Delete `obj`: the object as kept while something holds it, None once it is gone
    (`grace`: the request's gracePeriodSeconds; a pod on a node waits for its kubelet)."""
    key = _key(rt, obj)
    period = _grace(ctx, rt, obj, grace)
    held = period > 0 or _held(ctx, rt, obj, policy)
    if dry_run:
        foreground = policy == "Foreground"
        return _marked(rt, obj, foreground=foreground, grace=period) if held else None
    if obj["metadata"].get("deletionTimestamp"):
        cut = graceful.shortened(obj, period) if _is_pod(rt) else None
        if cut is not None:
            ctx.store.put(key, cut)
        settle(ctx, rt, key)
        return ctx.store.get(key)
    if policy == "Orphan":
        _orphan(ctx, str(obj["metadata"].get("uid")))
    if not held:
        remove(ctx, rt, key)
        return None
    ctx.store.put(key, _marked(rt, obj, foreground=policy == "Foreground", grace=period))
    if policy == "Foreground":
        _delete_all(ctx, ctx.store.dependents(str(obj["metadata"].get("uid"))), "Foreground")
    if rt is kinds.NAMESPACES:
        _delete_all(ctx, ctx.store.keys_in_namespace(key.name), "Background")
    settle(ctx, rt, key)
    return ctx.store.get(key)


def _delete_all(ctx: ApiContext, keys: list[Key], policy: str) -> None:
    for key in keys:
        rt, obj = type_of(ctx, key), ctx.store.get(key)
        if rt is not None and obj is not None:
            delete(ctx, rt, obj, policy=policy, dry_run=False)


def settle(ctx: ApiContext, rt: ResourceType, key: Key) -> None:
    """Let an object being deleted go once nothing holds it any more (the controllers' part)."""
    obj = ctx.store.get(key)
    if obj is None or not obj["metadata"].get("deletionTimestamp"):
        return
    meta = obj["metadata"]
    finalizers = list(meta.get("finalizers") or [])
    before = copy.deepcopy(obj)
    if ORPHAN in finalizers:
        _orphan(ctx, str(meta.get("uid")))
        finalizers.remove(ORPHAN)
    if FOREGROUND in finalizers and not ctx.store.dependents(str(meta.get("uid")), blocking=True):
        finalizers.remove(FOREGROUND)
    spec = obj.get("spec") or {}
    if rt is kinds.NAMESPACES and not ctx.store.keys_in_namespace(key.name):
        spec["finalizers"] = [f for f in spec.get("finalizers") or [] if f != NAMESPACE_FINALIZER]
        obj["spec"] = spec
    meta["finalizers"] = finalizers
    if not finalizers:
        meta.pop("finalizers")
    if not finalizers and not spec.get("finalizers") and not graceful.pending(obj):
        remove(ctx, rt, key)
    elif obj != before:
        ctx.store.put(key, obj)


def _orphan(ctx: ApiContext, uid: str) -> None:
    for key in ctx.store.dependents(uid):
        dependent = ctx.store.get(key)
        if dependent is not None:
            _drop_owner(ctx, key, dependent, uid)


def _drop_owner(ctx: ApiContext, key: Key, obj: Obj, uid: str) -> None:
    meta = obj["metadata"]
    refs = [r for r in meta.get("ownerReferences") or [] if r.get("uid") != uid]
    if refs:
        meta["ownerReferences"] = refs
    else:
        meta.pop("ownerReferences", None)
    ctx.store.put(key, obj)


def _owner_exists(ctx: ApiContext, key: Key, ref: Obj) -> bool:
    rt = ctx.registry.for_kind(api_version=str(ref.get("apiVersion")), kind=str(ref.get("kind")))
    if rt is None:
        return False
    namespace = key.namespace if rt.namespaced else ""
    owner = ctx.store.get(Key(rt.group, rt.plural, namespace, str(ref.get("name"))))
    return owner is not None and owner["metadata"].get("uid") == ref.get("uid")


def collect_if_dangling(ctx: ApiContext, rt: ResourceType, key: Key) -> None:
    """The garbage collector's other half: an object written with `ownerReferences` none of
    which names a live owner (by uid) is deleted in the background, as kube-controller-manager
    does once it has looked the owners up — an agent pod created after its release's
    ClusterRole went still goes. An owner of a kind the API does not know keeps the object
    (the real collector cannot resolve it either), as does a cluster-scoped object naming a
    namespaced owner (invalid; the real one only reports it)."""
    obj = ctx.store.get(key)
    if obj is None or obj["metadata"].get("deletionTimestamp"):
        return
    refs = obj["metadata"].get("ownerReferences") or []
    if not refs:
        return
    for ref in refs:
        owner_rt = ctx.registry.for_kind(
            api_version=str(ref.get("apiVersion")), kind=str(ref.get("kind"))
        )
        if owner_rt is None or (owner_rt.namespaced and not rt.namespaced):
            return
        if _owner_exists(ctx, key, ref):
            return
    delete(ctx, rt, obj, policy="Background", dry_run=False)


def remove(ctx: ApiContext, rt: ResourceType, key: Key) -> None:
    """Take the object out of the store, then collect what depended on it."""
    obj = ctx.store.get(key)
    if obj is None:
        return
    kinds.before_delete(ctx, rt, obj)
    ctx.store.delete(key)
    kinds.after_delete(ctx, rt, obj)
    uid = str(obj["metadata"].get("uid"))
    for dep_key in ctx.store.dependents(uid):
        dependent = ctx.store.get(dep_key)
        if dependent is None:
            continue
        others = [
            r
            for r in dependent["metadata"].get("ownerReferences") or []
            if r.get("uid") != uid and _owner_exists(ctx, dep_key, r)
        ]
        if others:
            _drop_owner(ctx, dep_key, dependent, uid)
        else:
            _delete_all(ctx, [dep_key], "Background")
    for ref in obj["metadata"].get("ownerReferences") or []:
        owner_rt = ctx.registry.for_kind(
            api_version=str(ref.get("apiVersion")), kind=str(ref.get("kind"))
        )
        if owner_rt is not None:
            namespace = key.namespace if owner_rt.namespaced else ""
            settle(ctx, owner_rt, Key(owner_rt.group, owner_rt.plural, namespace, ref["name"]))
    if key.namespace:
        settle(ctx, kinds.NAMESPACES, Key("", "namespaces", "", key.namespace))
