"""`/openapi/v2`: the Swagger 2.0 document, from the same schemas as `/openapi/v3`.

kubectl reads it only when `/openapi/v3` cannot settle validation — a kind that no v3
document lists (`kind: Deploymnt`), or one whose PATCH lacks `fieldValidation` — and only
as protobuf: client-go asks for `application/com.github.proto-openapi.spec.v2@v1.0+protobuf`
and unmarshals the body as gnostic's `openapi_v2.Document` (answered with the `.v1.0+protobuf`
spelling, as kube-openapi does), so a JSON answer or a 406 would
fail it ("failed to download openapi"). Any other Accept gets JSON, as from kube-apiserver.

The definitions are the upstream ones, as kube-openapi publishes them in v2: refs under
`#/definitions/`, IntOrString a string of format `int-or-string`, Quantity a string, no
`oneOf`/`anyOf`/`nullable` (Swagger 2.0 has none), `x-` keys as vendor extensions (whose
values gnostic carries as YAML text; JSON is YAML). kube-openapi's parser refuses a schema
with several types or an array without exactly one item schema, and fails the whole
document on one bad definition, so those are dropped rather than sent. Paths are left out:
kubectl reads only the definitions (by `x-kubernetes-group-version-kind`).
"""

from __future__ import annotations

import functools
import json
import struct
from typing import Any

from podtap.backends.local.kubeapi.openapi import builtin_schemas, custom_schemas
from podtap.backends.local.kubeapi.resources import ResourceType

# What kubectl asks for (the deprecated spelling: '@' is no MIME token, so Go's mime package
# cannot parse it as a Content-Type) and what kube-openapi answers either way.
_PROTOBUF_ASKED = "application/com.github.proto-openapi.spec.v2@v1.0+protobuf"
PROTOBUF = "application/com.github.proto-openapi.spec.v2.v1.0+protobuf"
_V3_REF = "#/components/schemas/"
_VERSION = "v1.37.1"
_SPECIAL = {
    "io.k8s.apimachinery.pkg.util.intstr.IntOrString": {
        "type": "string",
        "format": "int-or-string",
    },
    "io.k8s.apimachinery.pkg.api.resource.Quantity": {"type": "string"},
}
# gnostic's openapi_v2.Schema: (JSON key, field number, how it is encoded).
_SCHEMA_FIELDS: tuple[tuple[str, int, str], ...] = (
    ("$ref", 1, "string"),
    ("format", 2, "string"),
    ("title", 3, "string"),
    ("description", 4, "string"),
    ("default", 5, "any"),
    ("multipleOf", 6, "double"),
    ("maximum", 7, "double"),
    ("exclusiveMaximum", 8, "bool"),
    ("minimum", 9, "double"),
    ("exclusiveMinimum", 10, "bool"),
    ("maxLength", 11, "int"),
    ("minLength", 12, "int"),
    ("pattern", 13, "string"),
    ("maxItems", 14, "int"),
    ("minItems", 15, "int"),
    ("uniqueItems", 16, "bool"),
    ("maxProperties", 17, "int"),
    ("minProperties", 18, "int"),
    ("required", 19, "strings"),
    ("enum", 20, "anys"),
    ("additionalProperties", 21, "additional"),
    ("type", 22, "type"),
    ("items", 23, "items"),
    ("allOf", 24, "schemas"),
    ("properties", 25, "properties"),
    ("discriminator", 26, "string"),
    ("readOnly", 27, "bool"),
)
_KEYS = frozenset(k for k, _, _ in _SCHEMA_FIELDS)


def wants_protobuf(accept: str) -> bool:
    return PROTOBUF in accept or _PROTOBUF_ASKED in accept


def accepts_json(accept: str) -> bool:
    types = {t.split(";")[0].strip() for t in accept.split(",")} if accept else {"*/*"}
    return bool(types & {"application/json", "application/*", "*/*", ""})


def _v2(node: Any) -> Any:
    """One v3-shaped schema node as Swagger 2.0 has it (see the module docstring)."""
    if not isinstance(node, dict):
        return node
    out: dict[str, Any] = {}
    for key, value in node.items():
        if key.startswith("x-"):
            out[key] = value
        elif key not in _KEYS:
            continue
        elif key == "$ref":
            out[key] = "#/definitions/" + str(value).removeprefix(_V3_REF)
        elif key == "properties":
            out[key] = {name: _v2(s) for name, s in value.items()}
        elif key == "items" and isinstance(value, dict):
            out[key] = _v2(value)
        elif key == "allOf":
            out[key] = [_v2(s) for s in value]
        elif key == "additionalProperties":
            out[key] = _v2(value) if isinstance(value, dict) else bool(value)
        elif key == "type" and not isinstance(value, str):
            continue  # several types: kube-openapi cannot parse it; any value, as published
        elif key != "items":
            out[key] = value
    if out.get("type") == "array" and "items" not in out:
        del out["type"]  # kube-openapi wants exactly one item schema; any value, then
    return out


@functools.cache
def _builtin_definitions() -> dict[str, Any]:
    return {name: _SPECIAL.get(name) or _v2(s) for name, s in builtin_schemas().items()}


def document(types: list[ResourceType]) -> dict[str, Any]:
    """The Swagger 2.0 document: every upstream definition, and those of the served CRDs."""
    custom = {name: _v2(s) for name, s in custom_schemas(types).items()}
    definitions = {**_builtin_definitions(), **custom}
    return {
        "swagger": "2.0",
        "info": {"title": "Kubernetes", "version": _VERSION},
        "paths": {},
        "definitions": {name: definitions[name] for name in sorted(definitions)},
    }


# --- gnostic protobuf --------------------------------------------------------------------


def _varint(n: int) -> bytes:
    n &= (1 << 64) - 1  # negative int64s are ten bytes, two's complement
    out = bytearray()
    while n > 0x7F:
        out.append(n & 0x7F | 0x80)
        n >>= 7
    out.append(n)
    return bytes(out)


def _len(num: int, payload: bytes) -> bytes:
    return _varint(num << 3 | 2) + _varint(len(payload)) + payload


def _text(num: int, text: str) -> bytes:
    return _len(num, text.encode())


def _any(num: int, value: Any) -> bytes:
    """gnostic's Any: the value as YAML text (field 2), which JSON is."""
    return _len(num, _text(2, json.dumps(value)))


def _named(num: int, name: str, value: bytes) -> bytes:
    return _len(num, _text(1, name) + _len(2, value))


def _field(num: int, how: str, value: Any) -> bytes:
    if how == "string":
        return _text(num, str(value))
    if how == "any":
        return _any(num, value)
    if how == "double":
        return _varint(num << 3 | 1) + struct.pack("<d", float(value))
    if how in ("bool", "int"):
        return _varint(num << 3) + _varint(int(value))
    if how == "strings":
        return b"".join(_text(num, str(v)) for v in value)
    if how == "anys":
        return b"".join(_any(num, v) for v in value)
    if how == "type":
        return _len(num, _text(1, value))
    if how == "items":
        return _len(num, _len(1, schema_message(value)))
    if how == "schemas":
        return b"".join(_len(num, schema_message(s)) for s in value)
    if how == "properties":
        return _len(num, b"".join(_named(1, k, schema_message(s)) for k, s in value.items()))
    if isinstance(value, bool):  # additionalProperties: true or false
        return _len(num, _varint(2 << 3) + _varint(int(value)))
    return _len(num, _len(1, schema_message(value)))


def schema_message(schema: dict[str, Any]) -> bytes:
    """One openapi_v2.Schema, fields in number order as Go's marshaller writes them."""
    out = b"".join(
        _field(num, how, schema[key]) for key, num, how in _SCHEMA_FIELDS if key in schema
    )
    extensions = sorted(k for k in schema if k.startswith("x-"))
    return out + b"".join(_len(31, _text(1, k) + _any(2, schema[k])) for k in extensions)


@functools.cache
def _builtin_entries() -> bytes:
    return b"".join(_named(1, n, schema_message(s)) for n, s in _builtin_definitions().items())


def protobuf(types: list[ResourceType]) -> bytes:
    """`document(types)` as an openapi_v2.Document message (the built-ins encoded once)."""
    custom = {name: _v2(s) for name, s in custom_schemas(types).items()}
    entries = _builtin_entries() + b"".join(
        _named(1, n, schema_message(custom[n])) for n in sorted(custom)
    )
    info = _text(1, "Kubernetes") + _text(2, _VERSION)
    return _text(1, "2.0") + _len(2, info) + _len(8, b"") + _len(9, entries)
