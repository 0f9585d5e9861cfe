"""The built-in kinds' schemas, from the JSON Schema files kubernetes-validate ships for v1.37.

kubernetes-validate converts Kubernetes' own OpenAPI into one ``_definitions.json`` (every Go
type, named ``io.k8s.api.core.v1.Container``) plus a file per kind. Admission reads the
definitions directly instead of running ``jsonschema`` over them: the real server does not
*validate* a built-in body against a schema, it *decodes* it into Go structs, and the decoder's
errors (first type mismatch in document order, every unknown field with its list indices) and
its output (unknown fields dropped) are what a client sees. The definitions carry exactly what
that needs: each struct's fields, each field's JSON type and Go format, list and map element
types. Loading takes ~30 ms, once per process (:func:`definitions` is cached).
"""

from __future__ import annotations

import functools
import json
from importlib import resources
from typing import Any, Final

__all__ = ["SCHEMA_VERSION", "definitions", "go_type", "resolve", "root_for", "struct_name"]

SCHEMA_VERSION: Final = "v1.37.0-local-strict"
_PREFIX: Final = "#/$defs/"

Schema = dict[str, Any]


@functools.cache
def definitions() -> dict[str, Schema]:
    """Every definition of the v1.37 schemas, by full name."""
    path = resources.files("kubernetes_validate").joinpath(
        "kubernetes-json-schema", SCHEMA_VERSION, "_definitions.json"
    )
    loaded: dict[str, Schema] = json.loads(path.read_text(encoding="utf-8"))["$defs"]
    return loaded


@functools.cache
def _kinds() -> dict[tuple[str, str, str], str]:
    index: dict[tuple[str, str, str], str] = {}
    for name, schema in definitions().items():
        for gvk in schema.get("x-kubernetes-group-version-kind", ()):
            index.setdefault((gvk["group"], gvk["version"], gvk["kind"]), name)
    return index


def root_for(*, group: str, version: str, kind: str) -> str | None:
    """The definition name of a served kind (``io.k8s.api.apps.v1.Deployment``), if built in."""
    return _kinds().get((group, version, kind))


def resolve(schema: Schema) -> tuple[str | None, Schema]:
    """Follow a ``$ref``: the definition's name (or ``None`` inline) and its schema."""
    ref = schema.get("$ref")
    if isinstance(ref, str) and ref.startswith(_PREFIX):
        name = ref.removeprefix(_PREFIX)
        return name, definitions()[name]
    if isinstance(ref, str) and "#/$defs/" in ref:
        name = ref.split("#/$defs/", 1)[1]
        return name, definitions()[name]
    return None, schema


def struct_name(name: str) -> str:
    """The Go type's bare name, as ``UnmarshalTypeError.Struct`` holds it: ``Container``."""
    return name.rsplit(".", 1)[-1]


def _named(name: str) -> str:
    """``reflect.Type.String()`` of a named type: package name and type, ``v1.Container``."""
    package, _, type_name = name.rpartition(".")
    return f"{package.rsplit('.', 1)[-1]}.{type_name}"


def _types(schema: Schema) -> list[str]:
    kinds = schema.get("type", [])
    return [kinds] if isinstance(kinds, str) else [k for k in kinds if k != "null"]


def go_type(schema: Schema) -> str:
    """The Go type a schema node decodes into, as the decoder's messages name it."""
    name, body = resolve(schema)
    if name is not None:
        return _named(name)
    kinds = _types(body)
    if "array" in kinds:
        return "[]" + go_type(body.get("items", {}))
    if "object" in kinds:
        values = body.get("additionalProperties")
        if isinstance(values, dict) and "properties" not in body:
            return "map[string]" + go_type(values)
        return "map[string]interface {}"
    if "integer" in kinds:
        return "int32" if body.get("format") == "int32" else "int64"
    if "number" in kinds:
        return "float64"
    if "boolean" in kinds:
        return "bool"
    if "string" in kinds:
        return "[]uint8" if body.get("format") == "byte" else "string"
    return "interface {}"
