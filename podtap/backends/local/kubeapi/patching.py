"""PATCH: merge, JSON, strategic merge and server-side apply, turned into a create or update.

The patch arithmetic is `podtap.core.kube`'s; this is the request's part, as
kube-apiserver's patch handler does it: decode the body by its media type, apply it to the
live object (an apply may create it), then store the result through the ordinary update (or
create) so names, resourceVersion, generation and status rules hold for patches too. A
strategic patch of a custom resource is a 415, as on a real server (kubectl falls back to a
merge patch); apply conflicts are the real 409 with their causes; `force` is refused on any
other patch type.
"""

from __future__ import annotations

import json
from dataclasses import replace
from typing import Any

import yaml

from podtap.backends.local.kubeapi import semantics, verbs
from podtap.backends.local.kubeapi.context import ApiContext
from podtap.backends.local.kubeapi.fields import reset_fields, schema_of
from podtap.backends.local.kubeapi.routes import Target
from podtap.backends.local.kubeapi.status import ApiError, bad_request
from podtap.backends.local.kubeapi.store import Obj
from podtap.core.kube.apply import conflict_status, server_side_apply
from podtap.core.kube.patch import merge_patch
from podtap.core.kube.patch_json import json_patch
from podtap.core.kube.patch_schema import GroupVersionKind
from podtap.core.kube.patch_strategic import strategic_merge_patch

JSON_PATCH = "application/json-patch+json"
MERGE_PATCH = "application/merge-patch+json"
STRATEGIC = "application/strategic-merge-patch+json"
APPLY = "application/apply-patch+yaml"
TYPES = (JSON_PATCH, MERGE_PATCH, STRATEGIC, APPLY)


def _decode(body: bytes, content_type: str) -> Any:
    try:
        return yaml.safe_load(body) if content_type == APPLY else json.loads(body or b"null")
    except (ValueError, yaml.YAMLError) as e:
        raise bad_request(f"error decoding patch: {e}") from e


def patched(live: Obj, patch: Any, content_type: str) -> Obj:
    """`live` with a merge, JSON or strategic patch applied (PatchError as the server's)."""
    if content_type == MERGE_PATCH:
        out = merge_patch(live, patch)
    elif content_type == JSON_PATCH:
        out = json_patch(live, patch)
    else:
        out = strategic_merge_patch(live, patch, kind=GroupVersionKind.of(live))
    if not isinstance(out, dict):
        raise bad_request("the patch did not result in an object")
    return out


def patch(
    ctx: ApiContext,
    target: Target,
    *,
    body: bytes,
    content_type: str,
    force: bool,
    write: verbs.Write,
) -> tuple[Obj, bool]:
    """The stored (or, dry run, would-be) object, and whether the patch created it."""
    doc = _decode(body, content_type)
    if content_type != APPLY:
        if force:
            raise ApiError(
                422, "Invalid", "force: Forbidden: may not be specified for non-apply patch"
            )
        live = verbs.get(ctx, target)
        return verbs.update(ctx, target, patched(live, doc, content_type), write), False
    return _apply(ctx, target, doc, force=force, write=write)


def _apply(
    ctx: ApiContext, target: Target, applied: Any, *, force: bool, write: verbs.Write
) -> tuple[Obj, bool]:
    if not isinstance(applied, dict):
        raise bad_request("the body of an apply patch must be an object")
    meta = applied.setdefault("metadata", {})
    if not isinstance(meta, dict):
        raise bad_request("metadata must be an object")
    meta.setdefault("name", target.name)
    live = ctx.store.get(verbs.key_of(target))
    if live is None and target.subresource:
        verbs.get(ctx, target)  # 404 for the subresource of a missing object
    if live is not None:
        live["apiVersion"] = target.rt.api_version
    result = server_side_apply(
        live,
        applied,
        manager=write.manager,
        force=force,
        now=semantics.now(),
        schema=schema_of(target.rt),
        subresource=target.subresource,
        reset_fields=reset_fields(target.rt, target.subresource),
    )
    if result.conflicts:
        status = conflict_status(result.conflicts)
        raise ApiError(409, "Conflict", status["message"], status.get("details", {}))
    unrecorded = replace(write, record=False)
    if live is None:
        collection = replace(target, name="")
        return verbs.create(ctx, collection, result.object, unrecorded), True
    return verbs.update(ctx, target, result.object, unrecorded), False
