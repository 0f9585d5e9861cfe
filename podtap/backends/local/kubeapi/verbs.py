"""The verbs on objects: get, list, create, update, delete, deletecollection.

Free of HTTP (the handlers in `http.py` decode the request and encode the answer) so each rule
is tested directly. Each verb checks what kube-apiserver checks, in its order: the namespace
exists, the name is valid, the object exists or not, the resourceVersion precondition; and
answers with the same Status. Side effects of particular kinds (a CRD registering its types, a
namespace taking its objects with it) are in `kinds.py`, called around the store writes.
"""

from __future__ import annotations

import base64
import json
from dataclasses import dataclass
from typing import Any

from podtap.backends.local.kubeapi import kinds, semantics
from podtap.backends.local.kubeapi.context import ApiContext
from podtap.backends.local.kubeapi.routes import Target
from podtap.backends.local.kubeapi.seams import object_matcher
from podtap.backends.local.kubeapi.status import (
    MODIFIED,
    already_exists,
    bad_request,
    conflict,
    not_found,
)
from podtap.backends.local.kubeapi.store import Key, Obj

NAMESPACES = kinds.NAMESPACES


@dataclass(frozen=True)
class ListOptions:
    label_selector: str = ""
    field_selector: str = ""
    limit: int = 0
    continue_token: str = ""


def key_of(target: Target, name: str | None = None) -> Key:
    return Key(target.rt.group, target.rt.plural, target.namespace, name or target.name)


def _require_namespace(ctx: ApiContext, target: Target) -> None:
    namespace = Key("", "namespaces", "", target.namespace)
    if target.rt.namespaced and target.namespace and ctx.store.get(namespace) is None:
        raise not_found(NAMESPACES, target.namespace)


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
        label_selector=options.label_selector, field_selector=options.field_selector
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


def create(ctx: ApiContext, target: Target, obj: Obj, *, dry_run: bool = False) -> Obj:
    _check_body(target, obj)
    _require_namespace(ctx, target)
    prepared = semantics.prepare_create(target.rt, obj, namespace=target.namespace)
    key = key_of(target, prepared["metadata"]["name"])
    if ctx.store.get(key) is not None:
        raise already_exists(target.rt, key.name)
    prepared = kinds.before_create(ctx, target.rt, prepared)
    if dry_run:
        return prepared
    stored = ctx.store.put(key, prepared)
    kinds.after_write(ctx, target.rt, stored)
    return stored


def update(ctx: ApiContext, target: Target, obj: Obj, *, dry_run: bool = False) -> Obj:
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
    new = semantics.prepare_update(target.rt, obj, old=old, subresource=target.subresource)
    if semantics.unchanged(new, old) or dry_run:
        return old if not dry_run else new
    stored = ctx.store.put(key_of(target), new)
    kinds.after_write(ctx, target.rt, stored)
    return stored


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


def delete(ctx: ApiContext, target: Target, options: Obj, *, dry_run: bool = False) -> Obj:
    """Delete at once (no finalizers yet); answers the Status kube-apiserver gives for that."""
    old = get(ctx, target)
    _preconditions(target, old, options)
    if not dry_run:
        kinds.before_delete(ctx, target.rt, old)
        ctx.store.delete(key_of(target))
    return success(target, old)


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
    for obj in items:
        if not dry_run:
            kinds.before_delete(ctx, target.rt, obj)
            ctx.store.delete(Key(target.rt.group, target.rt.plural, *_position(obj)))
    return items
