"""Objects walked with their schema: the field set of a value, a comparison, an apply merge.

These are structured-merge-diff's ``ToFieldSet``, ``Compare`` and ``Merge`` rewritten for
decoded JSON. What they share is how a value is cut into owned pieces: scalars, atomic lists
and atomic maps are leaves; a struct or map is its fields; an associative list is its items,
named by their key fields (``k:``) or, for a set, by value (``v:``). A list item is owned
itself (its element is a member) and through its fields.
"""

from __future__ import annotations

import copy
from dataclasses import dataclass, field
from typing import Any

from podtap.core.kube.fieldset import FieldSet, Path, pe_field, pe_index, pe_key, pe_value
from podtap.core.kube.patch import PatchError, json_equal
from podtap.core.kube.patch_schema import (
    ListType,
    MapType,
    ScalarType,
    StructType,
    Type,
    child_type,
    key_default,
)

__all__ = ["Comparison", "compare", "field_set", "merge", "remove_paths"]

MISSING: Any = object()


def _is_leaf(value: Any, t: Type) -> bool:
    if isinstance(t, MapType | StructType) and t.atomic:
        return True
    if isinstance(t, ListType):
        return t.kind == "atomic" or (t.kind == "map" and not t.keys) or not isinstance(value, list)
    if isinstance(t, ScalarType) and not t.untyped:
        return True
    return not isinstance(value, dict)


def item_pe(item: Any, t: ListType, index: int) -> str:
    """The path element naming a list item: its keys, its value, or (last resort) its index."""
    if t.kind == "set":
        return pe_value(item)
    if t.kind == "map" and isinstance(item, dict):
        keys = {}
        for k in t.keys:
            if k in item:
                keys[k] = item[k]
            elif key_default(k) is not None:
                keys[k] = key_default(k)
        return pe_key(keys)
    return pe_index(index)


def _items(value: Any, t: ListType) -> dict[str, Any]:
    """Items by path element; a duplicate key keeps the first, as the walkers do."""
    out: dict[str, Any] = {}
    for i, item in enumerate(value if isinstance(value, list) else []):
        out.setdefault(item_pe(item, t, i), item)
    return out


def field_set(value: Any, t: Type) -> FieldSet:
    """Every path ``value`` sets (``ToFieldSet``): what an applier of ``value`` owns."""
    out = FieldSet()
    _walk(value, t, (), out)
    return out


def _walk(value: Any, t: Type, path: Path, out: FieldSet) -> None:
    if _is_leaf(value, t):
        out.insert(path)
        return
    if isinstance(value, list):
        assert isinstance(t, ListType)
        for pe, item in _items(value, t).items():
            _walk(item, t.items, (*path, pe), out)
            out.insert((*path, pe))
        return
    for key, sub in value.items():
        here = (*path, pe_field(key))
        _walk(sub, child_type(t, key), here, out)
        if sub is None or sub == {} or not (isinstance(t, StructType) and key in t.fields):
            out.insert(here)


@dataclass
class Comparison:
    """What changed between two versions of an object, as three field sets."""

    added: FieldSet = field(default_factory=FieldSet)
    modified: FieldSet = field(default_factory=FieldSet)
    removed: FieldSet = field(default_factory=FieldSet)

    def changed(self) -> FieldSet:
        return self.modified.union(self.added)


def compare(old: Any, new: Any, t: Type) -> Comparison:
    """``Compare``: leaves added, modified and removed; a map or item that appears or
    disappears whole is added or removed itself too (structs are not: Go's zero value of a
    struct is never absent, so upstream never sees ``spec`` appear)."""
    out = Comparison()
    _compare(old, new, t, (), out)
    return out


def _compare(old: Any, new: Any, t: Type, path: Path, out: Comparison) -> None:
    sample = new if new is not MISSING else old
    empty = all(v is MISSING or v is None or v == {} or v == [] for v in (old, new))
    mixed = old is not MISSING and new is not MISSING and type(old) is not type(new)
    if _is_leaf(sample, t) or empty or mixed:
        if old is MISSING:
            out.added.insert(path)
        elif new is MISSING:
            out.removed.insert(path)
        elif not json_equal(old, new):
            out.modified.insert(path)
        return
    if isinstance(sample, list):
        assert isinstance(t, ListType)
        left = _items(old, t) if old is not MISSING else {}
        right = _items(new, t) if new is not MISSING else {}
        for pe in {**left, **right}:
            _compare(left.get(pe, MISSING), right.get(pe, MISSING), t.items, (*path, pe), out)
    else:
        left = old if isinstance(old, dict) else {}
        right = new if isinstance(new, dict) else {}
        for key in {**left, **right}:
            sub = (*path, pe_field(key))
            _compare(left.get(key, MISSING), right.get(key, MISSING), child_type(t, key), sub, out)
    whole = not isinstance(t, StructType) or (path and not path[-1].startswith("f:"))
    if whole and old is MISSING:
        out.added.insert(path)
    elif whole and new is MISSING:
        out.removed.insert(path)


def merge(live: Any, applied: Any, t: Type) -> Any:
    """``live`` with ``applied`` laid over it (``Merge``); neither is modified."""
    if applied is MISSING:
        return copy.deepcopy(live)
    if live is MISSING or _is_leaf(applied, t) or type(live) is not type(applied):
        return copy.deepcopy(applied)
    if isinstance(applied, dict):
        out = copy.deepcopy(live)
        for key, value in applied.items():
            out[key] = merge(live.get(key, MISSING), value, child_type(t, key))
        return out
    assert isinstance(t, ListType)
    return _merge_list(live, applied, t)


def _merge_list(live: list[Any], applied: list[Any], t: ListType) -> list[Any]:
    """Items keep live order; items both have follow the applied order; new ones come where
    the applied list puts them (structured-merge-diff's ``visitListItems``)."""
    lhs, rhs = _items(live, t), _items(applied, t)
    if len(rhs) != len(applied):
        raise PatchError(f"duplicate entries for key in list: {applied}", code=422)
    lpes, rpes = list(lhs), list(rhs)
    shared = [pe for pe in rpes if pe in lhs]
    nxt = 0  # index in shared of the shared item the output waits for
    out: list[Any] = []
    done: set[str] = set()
    li = ri = 0
    while li < len(lpes) or ri < len(rpes):
        waiting = shared[nxt] if nxt < len(shared) else None
        if li < len(lpes) and ri < len(rpes):
            pe = lpes[li]
            if pe == rpes[ri]:
                out.append(merge(lhs[pe], rhs[pe], t.items))
                done.add(pe)
                li, ri, nxt = li + 1, ri + 1, nxt + 1
                continue
            if pe in rhs and waiting is not None and waiting != pe:
                li += 1
                continue
        if li < len(lpes):
            pe = lpes[li]
            if pe not in rhs:
                out.append(copy.deepcopy(lhs[pe]))
                li += 1
                continue
            if pe in done:
                li += 1
        if ri < len(rpes):
            pe = rpes[ri]
            done.add(pe)
            out.append(merge(lhs.get(pe, MISSING), rhs[pe], t.items))
            ri += 1
            if waiting == pe:
                nxt += 1
    return out


def remove_paths(value: Any, paths: list[Path], t: Type) -> Any:
    """``value`` without the fields and items at ``paths`` (what ``prune`` removes)."""
    out = copy.deepcopy(value)
    gone: list[Path] = []
    for path in sorted(paths, key=len):
        # Removing an item removes its fields; removing them first would unkey the item.
        if not any(path[: len(g)] == g for g in gone):
            gone.append(path)
            _remove(out, path, t)
    return out


def _remove(node: Any, path: Path, t: Type) -> None:
    pe, rest = path[0], path[1:]
    if pe.startswith("f:") and isinstance(node, dict):
        key = pe[2:]
        if key not in node:
            return
        if rest:
            _remove(node[key], rest, child_type(t, key))
        else:
            del node[key]
    elif isinstance(node, list) and isinstance(t, ListType):
        for i, item in enumerate(node):
            if item_pe(item, t, i) == pe:
                if rest:
                    _remove(item, rest, t.items)
                else:
                    del node[i]
                return
