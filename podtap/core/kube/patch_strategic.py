"""Strategic merge patch, applied server-side as apimachinery's ``strategicpatch`` does.

A JSON merge patch that knows the schema: a list whose field says ``patchStrategy: merge``
merges item by item on its ``patchMergeKey`` (containers by ``name``, volume mounts by
``mountPath``) or, for scalars, as a set (``finalizers``); any other list is replaced. kubectl
computes its three-way patch client-side and sends these directives, which only the server
resolves:

- ``$patch: replace`` (this map or list as given), ``$patch: delete`` (drop this map, or the
  list item with this merge key); ``$patch: merge`` on a list item is refused, as upstream;
- ``$retainKeys: [..]``: clear the keys of the live map not named (``strategy`` of a
  Deployment, volume sources);
- ``$deleteFromPrimitiveList/<field>: [..]``: remove these scalars from a merged list;
- ``$setElementOrder/<field>: [..]``: the order of the merged list; items only the server has
  keep their relative place.

Order of a merged list, as upstream: items of the patch first in patch order, interleaved
with the server-only items kept in live order (so a new container lands *before* the
existing ones). A ``null`` deletes a key. Departure: where upstream copies a patch value into
a missing field unprocessed (and its decoder then drops the directives), the value is merged
into an empty one here, which gives the same object without the stray directives.
"""

from __future__ import annotations

import copy
from typing import Any

from podtap.core.kube.patch import PatchError, bad_request
from podtap.core.kube.patch_schema import (
    UNTYPED,
    GroupVersionKind,
    ListType,
    StructType,
    Type,
    child_type,
    type_for,
)

__all__ = ["UNSUPPORTED_FOR_CUSTOM_RESOURCES", "strategic_merge_patch"]

PATCH = "$patch"
RETAIN_KEYS = "$retainKeys"
DELETE_FROM = "$deleteFromPrimitiveList/"
SET_ORDER = "$setElementOrder/"
UNSUPPORTED_FOR_CUSTOM_RESOURCES = PatchError(
    "the body of the request was in an unknown format - accepted media types include: "
    "application/json-patch+json, application/merge-patch+json, application/apply-patch+yaml",
    code=415,
    reason="UnsupportedMediaType",
)


def strategic_merge_patch(
    live: dict[str, Any], patch: Any, *, kind: GroupVersionKind
) -> dict[str, Any]:
    """``live`` with ``patch`` merged by the patch strategies of ``kind``'s schema.

    A kind the built-in table does not know is a custom resource: 415, as kube-apiserver
    answers (kubectl then falls back to a merge patch on its own).
    """
    schema = type_for(kind)
    if schema is None:
        raise copy.copy(UNSUPPORTED_FOR_CUSTOM_RESOURCES)
    if not isinstance(patch, dict):
        raise bad_request(
            "json: cannot unmarshal array into Go value of type map[string]interface {}"
        )
    return _merge_map(copy.deepcopy(live), copy.deepcopy(patch), schema)


def _strategy(parent: Type, key: str) -> str:
    t = child_type(parent, key)
    if isinstance(t, ListType):
        return t.strategy
    return parent.strategies.get(key, "") if isinstance(parent, StructType) else ""


def _merge_map(original: dict[str, Any] | None, patch: dict[str, Any], t: Type) -> dict[str, Any]:
    if PATCH in patch:
        directive = patch.pop(PATCH)
        if directive == "replace":
            return _merge_map({}, patch, t)
        if directive == "delete":
            return {}
        raise bad_request(f"Unknown patch type: {directive} in map: {patch}")
    out = original if original is not None else {}
    _retain_keys(out, patch)
    _set_element_orders(out, patch, t)
    for key, value in patch.items():
        delete_list = key.startswith(DELETE_FROM)
        if delete_list:
            key = key[len(DELETE_FROM) :]
        if value is None:
            out.pop(key, None)
        elif delete_list:
            if not isinstance(value, list):
                raise bad_request("Invalid list of primitives to delete")
            if isinstance(out.get(key), list):
                out[key] = [v for v in out[key] if v not in value]
        else:
            out[key] = _merge_value(out.get(key), value, t, key)
    return out


def _merge_value(original: Any, value: Any, parent: Type, key: str) -> Any:
    t, strategy = child_type(parent, key), _strategy(parent, key)
    if isinstance(value, dict):
        if "replace" in strategy.split(","):
            return _merge_map({}, value, t)
        return _merge_map(original if isinstance(original, dict) else None, value, t)
    if isinstance(value, list):
        if "merge" in strategy.split(",") and isinstance(t, ListType):
            return _merge_list(original if isinstance(original, list) else [], value, t)
        return [_merge_map({}, v, UNTYPED) if isinstance(v, dict) else v for v in value]
    return value


def _retain_keys(out: dict[str, Any], patch: dict[str, Any]) -> None:
    if RETAIN_KEYS not in patch:
        return
    keep = patch.pop(RETAIN_KEYS)
    if not isinstance(keep, list):
        raise bad_request("invalid patch format for retainKeys")
    for key, value in patch.items():
        if value is not None and not key.startswith(("$", DELETE_FROM)) and key not in keep:
            raise bad_request(
                "doesn't satisfy retainKeys: all fields in the patch must be in the "
                "$retainKeys list"
            )
    for key in [k for k in out if k not in keep]:
        del out[key]


def _key_of(item: Any, merge_key: str) -> Any:
    if not merge_key:
        return ("scalar", item) if not isinstance(item, dict | list) else ("json", repr(item))
    if not isinstance(item, dict) or merge_key not in item:
        raise bad_request(f"map: {item} does not contain declared merge key: {merge_key}")
    return ("key", repr(item[merge_key]))


def _merge_list(original: list[Any], patch: list[Any], t: ListType) -> list[Any]:
    """Merge ``patch`` into ``original`` item by item, then order as upstream does."""
    if not original and not patch:
        return original
    maps = any(isinstance(v, dict) for v in [*original, *patch])
    key = t.merge_key if maps else ""
    if maps and not key:
        raise bad_request("cannot merge lists without merge key for type map")
    if not maps:
        merged = list(original)
        merged += [v for v in patch if v not in merged]
        return _order(merged, patch, original, key)
    items: list[Any] = []
    replace = False
    for v in patch:
        directive = v.get(PATCH) if isinstance(v, dict) else None
        if directive == "delete":
            gone = _key_of(v, key)
            original = [o for o in original if _key_of(o, key) != gone]
        elif directive == "replace":
            replace = True
        elif directive is not None:
            raise bad_request(
                "merging lists cannot yet be specified in the patch"
                if directive == "merge"
                else f"Unknown patch type: {directive} in map: {v}"
            )
        else:
            items.append(v)
    if replace:
        return [_merge_map({}, v, t.items) for v in items]
    merged = list(original)
    for v in items:
        idx = next((i for i, o in enumerate(merged) if _key_of(o, key) == _key_of(v, key)), None)
        if idx is None:
            merged.append(_merge_map({}, v, t.items))
        else:
            merged[idx] = _merge_map(merged[idx], v, t.items)
    return _order(merged, items, original, key)


def _order(merged: list[Any], order: list[Any], server: list[Any], key: str) -> list[Any]:
    """Patch items sorted by ``order``, interleaved with server-only items kept in ``server``
    order (``normalizeElementOrder`` + ``mergeSortedSlice``)."""
    wanted = [_key_of(v, key) for v in order]
    server_keys = [_key_of(v, key) for v in server]
    in_patch = [v for v in merged if _key_of(v, key) in wanted]
    in_patch.sort(key=lambda v: wanted.index(_key_of(v, key)))
    server_only = [v for v in merged if _key_of(v, key) not in wanted]
    server_only.sort(
        key=lambda v: server_keys.index(_key_of(v, key)) if _key_of(v, key) in server_keys else -1
    )
    out: list[Any] = []
    i = j = 0
    while i < len(server_only) or j < len(in_patch):
        if j >= len(in_patch):
            out.append(server_only[i])
            i += 1
            continue
        if i < len(server_only):
            left, right = _key_of(server_only[i], key), _key_of(in_patch[j], key)
            both = left in server_keys and right in server_keys
            if both and server_keys.index(left) < server_keys.index(right):
                out.append(server_only[i])
                i += 1
                continue
        out.append(in_patch[j])
        j += 1
    return out


def _set_element_orders(out: dict[str, Any], patch: dict[str, Any], t: Type) -> None:
    """Resolve each ``$setElementOrder/<field>`` with the patch list of that field, if any."""
    for directive in [k for k in patch if k.startswith(SET_ORDER)]:
        order = patch.pop(directive)
        key = directive[len(SET_ORDER) :]
        if not isinstance(order, list):
            raise bad_request("invalid patch format for $setElementOrder list")
        lt = child_type(t, key)
        merge_key = lt.merge_key if isinstance(lt, ListType) else ""
        if not any(isinstance(v, dict) for v in order):
            merge_key = ""
        live = out.get(key)
        if key in patch and patch[key] is not None:
            _check_order(patch[key], order, merge_key)
            merged = _merge_value(live, patch.pop(key), t, key)
        elif isinstance(live, list):
            merged = live
        else:
            continue
        out[key] = _order(merged, order, live if isinstance(live, list) else [], merge_key)


def _check_order(items: Any, order: list[Any], key: str) -> None:
    if not isinstance(items, list):
        raise bad_request("invalid patch format for $setElementOrder list")
    plain = [v for v in items if not (isinstance(v, dict) and PATCH in v)]
    wanted = [_key_of(v, key) for v in order]
    pos = 0
    for v in plain:
        k = _key_of(v, key)
        while pos < len(wanted) and wanted[pos] != k:
            pos += 1
        if pos == len(wanted):
            raise bad_request(
                f"The order in patch list:\n{items}\n doesn't match "
                f"$setElementOrder list:\n{order}\n"
            )
        pos += 1
