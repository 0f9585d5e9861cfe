"""Pruning and defaulting a custom resource by its CRD's structural schema, as the server does.

A CRD's ``openAPIV3Schema`` is structural: every field that may be stored is declared. The
server drops the rest while decoding (``apiextensions-apiserver/pkg/apiserver/schema/pruning``)
and names each dropped field for strict field validation, sorted: ``spec.items[0].colour``.
Below ``x-kubernetes-preserve-unknown-fields: true`` nothing is dropped, except under
``properties`` or ``additionalProperties`` declared again deeper down; at the root and in every
``x-kubernetes-embedded-resource`` object, ``apiVersion``, ``kind`` and ``metadata`` are kept (the
metadata is ObjectMeta, checked as such). Then ``schema/defaulting`` runs: a ``null`` of a field
that is not ``nullable`` and has no default is dropped, and every absent field with a
``default`` gets a copy of it, top-down, so the defaults of a defaulted object apply too.
"""

from __future__ import annotations

import copy
from typing import Any, Final

__all__ = ["apply_defaults", "drop_nulls", "prune"]

Schema = dict[str, Any]
_META_FIELDS: Final = ("apiVersion", "kind", "metadata")
_PRESERVE: Final = "x-kubernetes-preserve-unknown-fields"
_EMBEDDED: Final = "x-kubernetes-embedded-resource"


def _join(parent: str, key: str) -> str:
    return f"{parent}.{key}" if parent else key


def _children(schema: Schema | None) -> tuple[Schema, Schema | None]:
    if schema is None:
        return {}, None
    values = schema.get("additionalProperties")
    return schema.get("properties") or {}, values if isinstance(values, dict) else None


def prune(obj: dict[str, Any], schema: Schema) -> list[str]:
    """Drop from ``obj`` (in place) what ``schema`` does not declare; the dropped paths, sorted."""
    pruned: list[str] = []
    _prune(obj, {**schema, _EMBEDDED: True}, "", pruned)
    return sorted(pruned)


def _prune(value: Any, schema: Schema | None, path: str, pruned: list[str]) -> None:
    if schema is not None and schema.get(_PRESERVE):
        _skip(value, schema, path, pruned)
        return
    properties, values = _children(schema)
    if isinstance(value, dict):
        for key in list(value):
            embedded = schema is not None and schema.get(_EMBEDDED)
            if embedded and (key == "metadata" or (key in _META_FIELDS and key not in properties)):
                continue  # metadata is ObjectMeta, decoded as such (kubebuilder declares it bare)
            if key in properties:
                _prune(value[key], properties[key], _join(path, key), pruned)
            elif values is not None:
                _prune(value[key], values, _join(path, key), pruned)
            else:
                pruned.append(_join(path, key))
                del value[key]
    elif isinstance(value, list):
        items = schema.get("items") if schema is not None else None
        for index, item in enumerate(value):
            _prune(item, items, f"{path}[{index}]", pruned)


def _skip(value: Any, schema: Schema, path: str, pruned: list[str]) -> None:
    """``skipPrune``: keep unknown fields, but prune below fields declared again."""
    properties, values = _children(schema)
    if isinstance(value, dict):
        for key, item in value.items():
            if schema.get(_EMBEDDED) and key in _META_FIELDS:
                continue
            if key in properties:
                _prune(item, properties[key], _join(path, key), pruned)
            elif values is not None:
                _prune(item, values, _join(path, key), pruned)
    elif isinstance(value, list) and isinstance(schema.get("items"), dict):
        for index, item in enumerate(value):
            _skip(item, schema["items"], f"{path}[{index}]", pruned)


def drop_nulls(value: Any, schema: Schema) -> None:
    """``PruneNonNullableNullsWithoutDefaults``: a ``null`` the schema cannot hold goes."""
    properties, values = _children(schema)
    if isinstance(value, dict):
        for key in list(value):
            sub = properties.get(key, values)
            if sub is None:
                continue
            if value[key] is None and "default" not in sub and not sub.get("nullable"):
                del value[key]
            else:
                drop_nulls(value[key], sub)
    elif isinstance(value, list) and isinstance(schema.get("items"), dict):
        for item in value:
            drop_nulls(item, schema["items"])


def apply_defaults(value: Any, schema: Schema) -> None:
    """``structuraldefaulting.Default``: fill absent (or non-nullable null) fields, top-down."""
    properties, values = _children(schema)
    if isinstance(value, dict):
        for key, sub in properties.items():
            if "default" not in sub:
                continue
            if key not in value or (value[key] is None and not sub.get("nullable")):
                value[key] = copy.deepcopy(sub["default"])
        for key, item in value.items():
            sub = properties.get(key, values)
            if sub is not None:
                apply_defaults(item, sub)
    elif isinstance(value, list) and isinstance(schema.get("items"), dict):
        for item in value:
            apply_defaults(item, schema["items"])
