"""The verbs on objects: get, list, create, update, delete, deletecollection.

Free of HTTP (the handlers in `http.py` decode the request and encode the answer) so each rule
is tested directly. Each verb checks what kube-apiserver checks, in its order: the namespace
exists (and is not terminating), the name is valid, the object exists or not, the
resourceVersion precondition, RBAC escalation; and answers with the same Status. Every write
records its field manager in managedFields and honours `dryRun=All` (all checks, no store
write). Side effects of particular kinds (a CRD registering its types, ClusterRole
aggregation) are in `kinds.py`, called around the store writes; deletion (finalizers, owners,
namespaces) is `lifecycle.py`'s.
"""

from __future__ import annotations

import base64
import json
from dataclasses import dataclass, field
from typing import Any

from podtap.backends.local.kubeapi import (
    ephemeral,
    graceful,
    kinds,
    lifecycle,
    rbac_objects,
    semantics,
)
from podtap.backends.local.kubeapi.admitting import admitted
from podtap.backends.local.kubeapi.context import ApiContext
from podtap.backends.local.kubeapi.fields import recorded
from podtap.backends.local.kubeapi.routes import Target
from podtap.backends.local.kubeapi.selection import object_matcher
from podtap.backends.local.kubeapi.status import (
    MODIFIED,
    ApiError,
    Cause,
    already_exists,
    bad_request,
    conflict,
    invalid,
    not_found,
)
from podtap.backends.local.kubeapi.store import Key, Obj
from podtap.core.kube.admission import FieldValidation
from podtap.core.kube.admission_status import Operation
from podtap.core.kube.refusal import forbidden
from podtap.core.kube.users import UserInfo

NAMESPACES = kinds.NAMESPACES
# The namespaces the NamespaceLifecycle admission plugin refuses to delete.
_IMMORTAL = ("default", "kube-system", "kube-public")


@dataclass(frozen=True)
class ListOptions:
    label_selector: str = ""
    field_selector: str = ""
    limit: int = 0
    continue_token: str = ""
    delete: Obj = field(default_factory=dict)  # DeleteOptions of a deletecollection


@dataclass(frozen=True)
class Write:
    """How a write is made: dry run or not, by which field manager, by whom (for RBAC)."""

    dry_run: bool = False
    manager: str = ""
    user: UserInfo | None = None
    # False when the caller (server-side apply) has already written managedFields.
    record: bool = True
    field_validation: FieldValidation = "Warn"
    # Filled by admission (unknown fields under Warn); the answer sends them as headers.
    warnings: list[str] = field(default_factory=list)


def key_of(target: Target, name: str | None = None) -> Key:
    return Key(target.rt.group, target.rt.plural, target.namespace, name or target.name)


def _require_namespace(ctx: ApiContext, target: Target, name: str = "") -> None:
    namespace = Key("", "namespaces", "", target.namespace)
    if not target.rt.namespaced or not target.namespace:
        return
    found = ctx.store.get(namespace)
    if found is None:
        raise not_found(NAMESPACES, target.namespace)
    if found["metadata"].get("deletionTimestamp"):
        why = (
            f"unable to create new content in namespace {target.namespace} "
            "because it is being terminated"
        )
        name = name or target.name
        raise forbidden(group=target.rt.group, resource=target.rt.plural, name=name, error=why)


def get(ctx: ApiContext, target: Target) -> Obj:
    obj = ctx.store.get(key_of(target))
    if obj is None:
        raise not_found(target.rt, target.name)
    return obj


def _encode_continue(rv: int, after: tuple[str, str]) -> str:
    raw = json.dumps({"rv": rv, "after": list(after)}).encode()
    return base64.urlsafe_b64encode(raw).decode()


def _decode_continue(token: str) -> tuple[str, str]:
    try:
        data = json.loads(base64.urlsafe_b64decode(token.encode()))
        ns, name = data["after"]
        return str(ns), str(name)
    except (ValueError, KeyError, TypeError) as e:
        raise bad_request("continue key is not valid") from e


def list_objects(ctx: ApiContext, target: Target, options: ListOptions) -> tuple[list[Obj], Obj]:
    """Matching objects in key order, and the list's metadata (resourceVersion, continue)."""
    matches = object_matcher(
        target.rt, label_selector=options.label_selector, field_selector=options.field_selector
    )
    items = ctx.store.items(
        group=target.rt.group, plural=target.rt.plural, namespace=target.namespace
    )
    if options.continue_token:
        after = _decode_continue(options.continue_token)
        items = [o for o in items if _position(o) > after]
    items = [o for o in items if matches(o)]
    meta: Obj = {"resourceVersion": str(ctx.store.revision)}
    if options.limit and len(items) > options.limit:
        items = items[: options.limit]
        meta["continue"] = _encode_continue(ctx.store.revision, _position(items[-1]))
    return items, meta


def _position(obj: Obj) -> tuple[str, str]:
    meta = obj["metadata"]
    return (str(meta.get("namespace", "")), str(meta["name"]))


def _check_body(target: Target, obj: Obj) -> None:
    rt = target.rt
    if obj.get("apiVersion") not in (None, rt.api_version) or obj.get("kind") not in (
        None,
        rt.kind,
    ):
        raise bad_request(
            f"the API version in the data ({obj.get('apiVersion')}) does not match the expected "
            f"API version ({rt.api_version})"
            if obj.get("apiVersion") != rt.api_version
            else f"the kind in the data ({obj.get('kind')}) does not match the expected kind "
            f"({rt.kind})"
        )
    ns = (obj.get("metadata") or {}).get("namespace")
    if rt.namespaced and ns and ns != target.namespace:
        raise bad_request(
            "the namespace of the provided object does not match the namespace sent on the request"
        )


def _admit(
    ctx: ApiContext,
    target: Target,
    obj: Obj,
    write: Write,
    *,
    operation: Operation,
    old: Obj | None,
) -> Obj:
    mode, warnings = write.field_validation, write.warnings
    return admitted(ctx, target, obj, operation=operation, old=old, mode=mode, warnings=warnings)


def create(ctx: ApiContext, target: Target, obj: Obj, write: Write | None = None) -> Obj:
    write = write or Write()
    obj = _admit(ctx, target, obj, write, operation="CREATE", old=None)
    _check_body(target, obj)
    _require_namespace(ctx, target, str((obj.get("metadata") or {}).get("name") or ""))
    prepared = semantics.prepare_create(target.rt, obj, namespace=target.namespace)
    key = key_of(target, prepared["metadata"]["name"])
    if ctx.store.get(key) is not None:
        raise already_exists(target.rt, key.name)
    prepared = kinds.before_create(ctx, target.rt, prepared)
    rbac_objects.check_write(ctx, target.rt, prepared, old=None, user=write.user)
    if write.record:
        prepared = recorded(target.rt, None, prepared, manager=write.manager, subresource="")
    if write.dry_run:
        return prepared
    stored = ctx.store.put(key, prepared)
    kinds.after_write(ctx, target.rt, stored)
    lifecycle.collect_if_dangling(ctx, target.rt, key)
    return stored


def update(ctx: ApiContext, target: Target, obj: Obj, write: Write | None = None) -> Obj:
    write = write or Write()
    _check_body(target, obj)
    meta = obj.get("metadata") or {}
    if meta.get("name") not in (None, target.name):
        raise bad_request(
            f"the name of the object ({meta.get('name')}) does not match the name on the URL "
            f"({target.name})"
        )
    old = get(ctx, target)
    wanted = meta.get("resourceVersion")
    if wanted and wanted != old["metadata"]["resourceVersion"]:
        raise conflict(target.rt, target.name, MODIFIED)
    obj = _admit(ctx, target, obj, write, operation="UPDATE", old=old)
    new = semantics.prepare_update(target.rt, obj, old=old, subresource=target.subresource)
    if target.subresource == ephemeral.SUBRESOURCE:
        new = ephemeral.ephemeral_update(target.rt, target.name, new=new, old=old)
    elif target.rt.kind == "Pod" and not target.subresource:
        ephemeral.check_main_update(target.rt, target.name, new=new, old=old)
    _check_finalizers(target, new, old)
    rbac_objects.check_write(ctx, target.rt, new, old=old, user=write.user)
    if write.record:
        sub = target.subresource
        new = recorded(target.rt, old, new, manager=write.manager, subresource=sub)
    if semantics.unchanged(new, old) or write.dry_run:
        return old if not write.dry_run else new
    stored = ctx.store.put(key_of(target), new)
    kinds.after_write(ctx, target.rt, stored)
    if new["metadata"].get("ownerReferences") != old["metadata"].get("ownerReferences"):
        lifecycle.collect_if_dangling(ctx, target.rt, key_of(target))
    if stored["metadata"].get("deletionTimestamp"):
        lifecycle.settle(ctx, target.rt, key_of(target))
        return ctx.store.get(key_of(target)) or stored
    return stored


def _check_finalizers(target: Target, new: Obj, old: Obj) -> None:
    """Once deletion has begun, finalizers may only be removed (as the registry insists)."""
    if not old["metadata"].get("deletionTimestamp"):
        return
    before = set(old["metadata"].get("finalizers") or [])
    added = [f for f in new["metadata"].get("finalizers") or [] if f not in before]
    if added:
        listed = ", ".join(f'"{f}"' for f in added)
        msg = (
            "Forbidden: no new finalizers can be added if the object is being deleted, "
            f"found new finalizers []string{{{listed}}}"
        )
        raise invalid(
            target.rt, target.name, [Cause("metadata.finalizers", "FieldValueForbidden", msg)]
        )


def _preconditions(target: Target, old: Obj, options: Obj) -> None:
    pre = options.get("preconditions") or {}
    meta = old["metadata"]
    if pre.get("uid") and pre["uid"] != meta.get("uid"):
        why = (
            f"Precondition failed: UID in precondition: {pre['uid']}, "
            f"UID in object meta: {meta.get('uid')}"
        )
        raise conflict(target.rt, target.name, why)
    if pre.get("resourceVersion") and pre["resourceVersion"] != meta.get("resourceVersion"):
        why = (
            f"Precondition failed: ResourceVersion in precondition: {pre['resourceVersion']}, "
            f"ResourceVersion in object meta: {meta.get('resourceVersion')}"
        )
        raise conflict(target.rt, target.name, why)


def _policy(options: Obj) -> str:
    policy = options.get("propagationPolicy") or "Background"
    if options.get("orphanDependents") is True:
        policy = "Orphan"
    if policy not in lifecycle.POLICIES:
        raise ApiError(
            422,
            "Invalid",
            f'propagationPolicy: Unsupported value: "{policy}": supported values: '
            '"Foreground", "Background", "Orphan"',
        )
    return str(policy)


def delete(ctx: ApiContext, target: Target, options: Obj, *, dry_run: bool = False) -> Obj:
    """Delete, or begin deleting: the Status when the object went, else the object as kept."""
    old = get(ctx, target)
    _preconditions(target, old, options)
    if target.rt is NAMESPACES and target.name in _IMMORTAL:
        why = "this namespace may not be deleted"
        raise forbidden(group="", resource="namespaces", name=target.name, error=why)
    grace = graceful.requested(options)
    policy = _policy(options)
    kept = lifecycle.delete(ctx, target.rt, old, policy=policy, dry_run=dry_run, grace=grace)
    return success(target, old) if kept is None else kept


def success(target: Target, old: Obj) -> Obj:
    details: dict[str, Any] = {"name": target.name}
    if target.rt.group:
        details["group"] = target.rt.group
    details.update(kind=target.rt.plural, uid=old["metadata"].get("uid"))
    return {
        "kind": "Status",
        "apiVersion": "v1",
        "metadata": {},
        "status": "Success",
        "details": details,
    }


def delete_collection(
    ctx: ApiContext, target: Target, options: ListOptions, *, dry_run: bool = False
) -> list[Obj]:
    items, _ = list_objects(
        ctx, target, ListOptions(options.label_selector, options.field_selector)
    )
    policy, grace = _policy(options.delete), graceful.requested(options.delete)
    for obj in items:
        lifecycle.delete(ctx, target.rt, obj, policy=policy, dry_run=dry_run, grace=grace)
    return items
