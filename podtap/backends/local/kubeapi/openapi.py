"""OpenAPI v3 documents per group/version, from the real Kubernetes 1.37 schemas.

Two kubectl features read them. `kubectl apply`/`create` (`--validate=strict`, the default)
looks in `/openapi/v3/<group-version>` for the PATCH operation of the object's kind: when it
lists the `fieldValidation` query parameter, kubectl leaves validation to the server and sends
`fieldValidation=Strict`; otherwise it validates on the client from `/openapi/v2`, which it
only reads as protobuf. So every resource gets such a PATCH operation here, and `/openapi/v2`
(`openapi_v2.py`, from the same schemas) is read only for kinds no v3 document lists.
`kubectl explain` finds the kind's schema in `components.schemas` by its
`x-kubernetes-group-version-kind`. The schemas are those kubernetes-validate ships (the
upstream OpenAPI turned into JSON Schema): refs are pointed back to `#/components/schemas`,
nullable type lists folded to one type, and each document keeps only what its kinds reach.
A CRD's document is built from its `openAPIV3Schema`, with ObjectMeta for `metadata`.
"""

from __future__ import annotations

import functools
import hashlib
import json
from importlib import resources
from typing import Any

from podtap.backends.local.kubeapi.resources import ResourceType

_SCHEMA_DIR = "kubernetes-json-schema/v1.37.0-local"
_DEFS = "#/$defs/"
_REF = "#/components/schemas/"
_META = "io.k8s.apimachinery.pkg.apis.meta.v1.ObjectMeta"
_FIELD_VALIDATION = {
    "name": "fieldValidation",
    "in": "query",
    "description": "how the server treats unknown or duplicate fields (Ignore, Warn, Strict)",
    "schema": {"type": "string", "uniqueItems": True},
}


_PATCH_TYPES = (
    "application/strategic-merge-patch+json",
    "application/apply-patch+yaml",
    "application/json-patch+json",
    "application/merge-patch+json",
)


def _convert(node: Any) -> Any:
    """JSON Schema (kubernetes-validate's) back to the OpenAPI 3.0 shape kubectl parses."""
    if isinstance(node, list):
        return [_convert(x) for x in node]
    if not isinstance(node, dict):
        return node
    out: dict[str, Any] = {}
    for key, value in node.items():
        if key == "$ref" and isinstance(value, str):
            out[key] = _REF + value.rsplit("/", 1)[-1]
        elif key == "type" and isinstance(value, list):
            kinds = [t for t in value if t != "null"]
            out[key] = kinds[0] if len(kinds) == 1 else kinds
        else:
            out[key] = _convert(value)
    return out


@functools.cache
def builtin_schemas() -> dict[str, Any]:
    """Every upstream definition, by its OpenAPI name (io.k8s.api.apps.v1.Deployment...)."""
    base = resources.files("kubernetes_validate").joinpath(_SCHEMA_DIR, "_definitions.json")
    defs: dict[str, Any] = json.loads(base.read_text())["$defs"]
    return {name: _convert(schema) for name, schema in defs.items()}


def _refs(node: Any) -> set[str]:
    if isinstance(node, list):
        return set().union(*(_refs(x) for x in node)) if node else set()
    if not isinstance(node, dict):
        return set()
    found = set()
    for key, value in node.items():
        if key == "$ref" and isinstance(value, str) and value.startswith(_REF):
            found.add(value[len(_REF) :])
        else:
            found |= _refs(value)
    return found


def _closure(roots: set[str], schemas: dict[str, Any]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    todo = [r for r in roots if r in schemas]
    while todo:
        name = todo.pop()
        if name in out:
            continue
        out[name] = schemas[name]
        todo.extend(r for r in _refs(schemas[name]) if r in schemas and r not in out)
    return out


@functools.cache
def _builtin_index() -> dict[tuple[str, str, str], str]:
    """(group, version, kind) -> the name of its upstream schema."""
    index = {}
    for name, schema in builtin_schemas().items():
        for g in schema.get("x-kubernetes-group-version-kind", []):
            index[(g.get("group", ""), g["version"], g["kind"])] = name
    return index


def _crd_schema_name(rt: ResourceType) -> str:
    return ".".join([*reversed(rt.group.split(".")), rt.version, rt.kind])


def _crd_schema(rt: ResourceType) -> dict[str, Any]:
    schema = dict(rt.schema or {"type": "object", "x-kubernetes-preserve-unknown-fields": True})
    props = dict(schema.get("properties", {}))  # type: ignore[call-overload]
    props["metadata"] = {"$ref": _REF + _META, "description": "Standard object's metadata."}
    props.setdefault("apiVersion", {"type": "string"})
    props.setdefault("kind", {"type": "string"})
    schema["properties"] = props
    schema["x-kubernetes-group-version-kind"] = [
        {"group": rt.group, "version": rt.version, "kind": rt.kind}
    ]
    return schema


def custom_schemas(types: list[ResourceType]) -> dict[str, Any]:
    """The schemas of the served custom resources (CRD versions), by their OpenAPI name."""
    return {
        _crd_schema_name(rt): _crd_schema(rt)
        for rt in types
        if not rt.virtual
        and (rt.schema is not None or (rt.group, rt.version, rt.kind) not in _builtin_index())
    }


def _path(rt: ResourceType) -> str:
    prefix = f"/apis/{rt.group}/{rt.version}" if rt.group else "/api/v1"
    scope = "/namespaces/{namespace}" if rt.namespaced else ""
    return f"{prefix}{scope}/{rt.plural}/{{name}}"


def _operations(rt: ResourceType, schema_name: str) -> dict[str, Any]:
    gvk = {"group": rt.group, "version": rt.version, "kind": rt.kind}
    body = {"content": {"application/json": {"schema": {"$ref": _REF + schema_name}}}}
    ok = {"200": body}
    ops: dict[str, Any] = {"get": {"x-kubernetes-group-version-kind": gvk, "responses": ok}}
    # Reviews take only create, but kubectl looks for fieldValidation on a PATCH operation and
    # would otherwise validate `create -f` on the client from /openapi/v2 (protobuf, not
    # served); a real server gets there from v2, this one by listing the parameter here.
    if "patch" in rt.verbs or rt.virtual:
        # kubectl apply computes a strategic merge patch from the schema only when the path
        # lists that patch type; custom resources, as on a real server, do not take it.
        types = _PATCH_TYPES if rt.schema is None else _PATCH_TYPES[1:]
        ops["patch"] = {
            "x-kubernetes-action": "patch",
            "x-kubernetes-group-version-kind": gvk,
            "parameters": [_FIELD_VALIDATION],
            "requestBody": {"content": {t: {"schema": {"type": "object"}} for t in types}},
            "responses": ok,
        }
    return ops


def group_version_document(types: list[ResourceType]) -> dict[str, Any]:
    """The OpenAPI v3 document of one group/version."""
    builtin = builtin_schemas()
    roots: dict[str, Any] = {}
    paths: dict[str, Any] = {}
    for rt in types:
        name = _builtin_index().get((rt.group, rt.version, rt.kind))
        if name is not None and rt.schema is None:
            roots[name] = builtin[name]
        elif rt.virtual:
            continue
        else:
            name = _crd_schema_name(rt)
            roots[name] = _crd_schema(rt)
        paths[_path(rt)] = _operations(rt, name)
    schemas = {**_closure(set().union(*(_refs(s) for s in roots.values())), builtin), **roots}
    return {
        "openapi": "3.0.0",
        "info": {"title": "Kubernetes", "version": "v1.37.1"},
        "paths": paths,
        "components": {"schemas": schemas},
    }


def digest(document: dict[str, Any]) -> str:
    """The `hash` query kubectl caches a document under; changes when the document does."""
    return hashlib.sha512(json.dumps(document, sort_keys=True).encode()).hexdigest()[:64].upper()


def gv_path(group: str, version: str) -> str:
    return f"apis/{group}/{version}" if group else f"api/{version}"
