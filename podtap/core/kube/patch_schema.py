"""The shape of API objects as patching and server-side apply see it.

Strategic merge patch and server-side apply both need to know, for every field, whether it is
a struct (named fields), a map (free keys), a list and how that list merges, or a scalar. The
facts come from Kubernetes' OpenAPI extensions (``x-kubernetes-patch-strategy``,
``-patch-merge-key``, ``-list-type``, ``-list-map-keys``, ``-map-type``), compiled by
``scripts/gen_patch_keys.py`` into ``patch_keys.json`` beside this module. A custom resource
gets the same model from its CRD's ``openAPIV3Schema`` (:func:`type_from_openapi`); where
nothing is known the type is *untyped*, which apply treats as structured-merge-diff does for
a deduced type: maps merge by key, lists are atomic.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from functools import cache
from importlib import resources
from typing import Any, Literal, NamedTuple

__all__ = [
    "SCALAR",
    "UNTYPED",
    "GroupVersionKind",
    "ListType",
    "MapType",
    "ScalarType",
    "StructType",
    "Type",
    "child_type",
    "key_default",
    "type_for",
    "type_from_openapi",
]


class GroupVersionKind(NamedTuple):
    """``apps``/``v1``/``Deployment``; the core group is ``""``."""

    group: str
    version: str
    kind: str

    @classmethod
    def of(cls, obj: dict[str, Any]) -> GroupVersionKind:
        """The kind an object says it is, from its ``apiVersion`` and ``kind``."""
        group, _, version = str(obj.get("apiVersion", "")).rpartition("/")
        return cls(group, version, str(obj.get("kind", "")))

    @property
    def api_version(self) -> str:
        return f"{self.group}/{self.version}" if self.group else self.version


@dataclass(frozen=True)
class ScalarType:
    """A leaf: string, number, bool, or a value apply treats whole (IntOrString, Quantity)."""

    untyped: bool = False


SCALAR = ScalarType()
# Nothing known: dicts merge key by key, lists are atomic (structured-merge-diff's deduced type).
UNTYPED = ScalarType(untyped=True)


@dataclass(frozen=True)
class MapType:
    """A map with free keys (labels, ``data``); atomic ones are owned and replaced whole."""

    values: Type
    atomic: bool = False


@dataclass(frozen=True)
class ListType:
    """A list: ``atomic`` (replaced whole), ``set`` of scalars, or ``map`` keyed by ``keys``.

    ``strategy``/``merge_key`` are strategic merge patch's view (``merge`` by one key), which
    predates and sometimes differs from apply's view (``ports`` merge by ``containerPort`` but
    are keyed by ``containerPort`` and ``protocol``).
    """

    kind: Literal["atomic", "set", "map"]
    items: Type
    keys: tuple[str, ...] = ()
    strategy: str = ""
    merge_key: str = ""


@dataclass(frozen=True)
class StructType:
    """Named fields; ``strategies`` holds a field's patch strategy when it is not a list's."""

    name: str
    fields: dict[str, Type] = field(default_factory=dict, hash=False, compare=False)
    strategies: dict[str, str] = field(default_factory=dict, hash=False, compare=False)
    atomic: bool = False


Type = ScalarType | MapType | ListType | StructType


def child_type(t: Type, key: str) -> Type:
    """The type of ``key`` inside a struct or map; untyped below anything unknown."""
    if isinstance(t, StructType):
        return t.fields.get(key, UNTYPED)
    if isinstance(t, MapType):
        return t.values
    return UNTYPED


@cache
def _table() -> dict[str, Any]:
    text = resources.files(__package__).joinpath("patch_keys.json").read_text()
    table: dict[str, Any] = json.loads(text)
    return table


_TYPES: dict[str, Type] = {}


def _named(name: str) -> Type:
    """A named type, decoded once; a struct is stored before its fields so that recursive
    types (``JSONSchemaProps`` holds ``JSONSchemaProps``) refer back to the same object."""
    if name in _TYPES:
        return _TYPES[name]
    entry = _table()["types"][name]
    if not isinstance(entry, dict) or "fields" not in entry:
        _TYPES[name] = _decode(entry)
        return _TYPES[name]
    struct = StructType(name, atomic=bool(entry.get("atomic")))
    _TYPES[name] = struct
    struct.strategies.update(entry.get("strategies", {}))
    for key, ref in entry["fields"].items():
        struct.fields[key] = _decode(ref)
    return struct


def _decode(ref: Any) -> Type:
    if ref == "":
        return SCALAR
    if ref == "*":
        return UNTYPED
    if isinstance(ref, str):
        return _named(ref)
    if "list" in ref:
        return ListType(
            ref["list"],
            _decode(ref.get("items", "*")),
            tuple(ref.get("keys", ())),
            ref.get("strategy", ""),
            ref.get("mergeKey", ""),
        )
    return MapType(_decode(ref["map"]), atomic=bool(ref.get("atomic")))


def type_for(gvk: GroupVersionKind) -> StructType | None:
    """The schema of a built-in kind, or None for a kind the table does not know (a CR)."""
    name = _table()["kinds"].get(f"{gvk.api_version}/{gvk.kind}")
    if name is None:
        return None
    t = _named(name)
    return t if isinstance(t, StructType) else None


def key_default(key: str) -> Any:
    """The value the server defaults a missing list-map key to (``protocol`` → ``TCP``)."""
    return _table()["keyDefaults"].get(key)


def type_from_openapi(schema: dict[str, Any], *, name: str = "") -> Type:
    """The model of a CRD version's ``openAPIV3Schema`` (structural, as CRDs must be)."""
    if schema.get("x-kubernetes-int-or-string"):
        return SCALAR
    kind = schema.get("type")
    if kind == "array":
        items = type_from_openapi(schema.get("items") or {}, name=f"{name}[]")
        list_kind = schema.get("x-kubernetes-list-type", "atomic")
        keys = tuple(schema.get("x-kubernetes-list-map-keys", ())) if list_kind == "map" else ()
        return ListType(list_kind, items, keys)
    if kind == "object" or "properties" in schema:
        atomic = schema.get("x-kubernetes-map-type") == "atomic"
        if "properties" in schema:
            struct = StructType(name or "object", atomic=atomic)
            for key, sub in schema["properties"].items():
                struct.fields[key] = type_from_openapi(sub, name=f"{name}.{key}")
            return struct
        values = schema.get("additionalProperties")
        if isinstance(values, dict):
            return MapType(type_from_openapi(values, name=f"{name}{{}}"), atomic=atomic)
        return UNTYPED
    if kind in ("string", "integer", "number", "boolean"):
        return SCALAR
    return UNTYPED
