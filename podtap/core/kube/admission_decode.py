"""Decoding a built-in object as kube-apiserver's JSON decoder does, strict mode included.

The server decodes a body into Go structs with ``sigs.k8s.io/json`` (a fork of
``encoding/json``). What a client sees comes from that decoder, so this walk copies it:

* a value of the wrong JSON type is an ``UnmarshalTypeError`` naming the innermost struct and
  the dotted JSON path *without* list indices (``json: cannot unmarshal string into Go struct
  field ContainerPort.spec.template.spec.containers.ports.containerPort of type int32``); the
  first such error in document order is kept and decoding goes on, as ``saveError`` does;
* a type with its own ``UnmarshalJSON`` (IntOrString, Quantity, Time) fails with its own text
  and stops decoding at once (that error is returned even after a saved one);
* every field the struct does not have is an unknown field, named *with* indices
  (``spec.containers[0].imagePullPolicyy``); they only matter when the type errors are none,
  and they are dropped from the decoded object whatever ``fieldValidation`` says, since a Go
  struct cannot hold them. ``null`` decodes to the zero value and is dropped from structs.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Final

from podtap.core.kube.admission_gotypes import (
    base64_error,
    json_kind,
    quantity_error,
    type_error_value,
)
from podtap.core.kube.admission_schemas import definitions, go_type, resolve, struct_name

__all__ = ["DecodeError", "Decoded", "decode"]

Schema = dict[str, Any]

_META: Final = "io.k8s.apimachinery.pkg.apis.meta.v1."
# Types whose UnmarshalJSON keeps any JSON as it is.
_RAW: Final = {
    "io.k8s.apimachinery.pkg.runtime.RawExtension",
    _META + "FieldsV1",
    "io.k8s.apiextensions-apiserver.pkg.apis.apiextensions.v1.JSON",
    "io.k8s.apiextensions-apiserver.pkg.apis.apiextensions.v1.JSONSchemaPropsOrArray",
    "io.k8s.apiextensions-apiserver.pkg.apis.apiextensions.v1.JSONSchemaPropsOrBool",
    "io.k8s.apiextensions-apiserver.pkg.apis.apiextensions.v1.JSONSchemaPropsOrStringArray",
}
# Types that unmarshal a JSON string first (Time.UnmarshalJSON, Duration.UnmarshalJSON).
_STRINGS: Final = {_META + "Time", _META + "MicroTime", _META + "Duration"}
_INT_OR_STRING: Final = "io.k8s.apimachinery.pkg.util.intstr.IntOrString"
_QUANTITY: Final = "io.k8s.apimachinery.pkg.api.resource.Quantity"
_SKIP: Final = object()


class DecodeError(Exception):
    """The decoder's error text (``json: cannot unmarshal ...``)."""


@dataclass
class Decoded:
    """The object as the Go struct holds it, and the unknown fields met, in document order."""

    object: dict[str, Any]
    unknown: list[str] = field(default_factory=list)


@dataclass(frozen=True, slots=True)
class _At:
    struct: str  # errorContext.Struct: the Go struct whose field is being decoded
    fields: tuple[str, ...]  # errorContext.FieldStack: JSON names, no indices
    path: str  # the strict decoder's path, with [i] for list items


class _Abort(Exception):
    """An ``UnmarshalJSON`` error: decoding stops here."""


def decode(body: dict[str, Any], *, root: str, under: str = "") -> Decoded:
    """Decode ``body`` into the definition ``root``; raise :class:`DecodeError` as Go would.

    ``under`` names the field ``body`` sits in when it is not a whole object (``metadata``).
    """
    walker = _Walker()
    at = _At(struct_name(root), (under,) if under else (), under)
    try:
        out = walker.struct(body, name=root, at=at)
    except _Abort as abort:
        raise DecodeError(str(abort)) from None
    if walker.saved is not None:
        raise DecodeError(walker.saved)
    return Decoded(object=out, unknown=walker.unknown)


class _Walker:
    def __init__(self) -> None:
        self.saved: str | None = None
        self.unknown: list[str] = []

    def save(self, message: str) -> None:
        if self.saved is None:
            self.saved = message

    def mismatch(self, value: Any, schema: Schema, at: _At, *, kind: str | None = None) -> Any:
        where = f"Go struct field {at.struct}.{'.'.join(at.fields)}" if at.fields else "Go value"
        what = kind or json_kind(value)
        self.save(f"json: cannot unmarshal {what} into {where} of type {go_type(schema)}")
        return _SKIP

    def value(self, value: Any, schema: Schema, at: _At) -> Any:
        name, body = resolve(schema)
        if value is None:
            return None
        if name in _RAW or (name is None and not body.get("type")):
            return value
        if name == _INT_OR_STRING:
            return _int_or_string(value)
        if name == _QUANTITY:
            return _quantity(value)
        if name in _STRINGS:
            if not isinstance(value, str):
                raise _Abort(
                    f"json: cannot unmarshal {json_kind(value)} into Go value of type string"
                )
            return value
        kinds = body.get("type", [])
        kinds = [kinds] if isinstance(kinds, str) else kinds
        if "object" in kinds:
            return self.object(value, schema, name=name, body=body, at=at)
        if "array" in kinds:
            if not isinstance(value, list):
                return self.mismatch(value, schema, at)
            return [
                self.item(item, body.get("items", {}), at, index)
                for index, item in enumerate(value)
            ]
        return self.scalar(value, schema, body=body, kinds=kinds, at=at)

    def item(self, value: Any, schema: Schema, at: _At, index: int) -> Any:
        out = self.value(value, schema, _At(at.struct, at.fields, f"{at.path}[{index}]"))
        return _zero(schema) if out is None or out is _SKIP else out

    def object(self, value: Any, schema: Schema, *, name: str | None, body: Schema, at: _At) -> Any:
        if not isinstance(value, dict):
            return self.mismatch(value, schema, at)
        values = body.get("additionalProperties")
        if name is not None and ("properties" in body or values is False):
            return self.struct(value, name=name, at=at)
        if not isinstance(values, dict):
            return value
        out = {}
        for key, item in value.items():
            decoded = self.value(item, values, _At(at.struct, at.fields, f"{at.path}.{key}"))
            out[key] = _zero(values) if decoded is None or decoded is _SKIP else decoded
        return out

    def struct(self, value: dict[str, Any], *, name: str, at: _At) -> dict[str, Any]:
        properties = definitions()[name].get("properties", {})
        out: dict[str, Any] = {}
        for key, item in value.items():
            path = f"{at.path}.{key}" if at.path else key
            if key not in properties:
                self.unknown.append(path)
                continue
            decoded = self.value(
                item, properties[key], _At(struct_name(name), (*at.fields, key), path)
            )
            if decoded is not None and decoded is not _SKIP:
                out[key] = decoded
        return out

    def scalar(self, value: Any, schema: Schema, *, body: Schema, kinds: list[str], at: _At) -> Any:
        if "integer" in kinds:
            problem = type_error_value(value, bits=32 if body.get("format") == "int32" else 64)
            return value if problem is None else self.mismatch(value, schema, at, kind=problem)
        if "number" in kinds:
            ok = isinstance(value, int | float) and not isinstance(value, bool)
        elif "boolean" in kinds:
            ok = isinstance(value, bool)
        else:
            ok = isinstance(value, str)
            if ok and body.get("format") == "byte" and (error := base64_error(value)):
                self.save(error)
        return value if ok else self.mismatch(value, schema, at)


def _int_or_string(value: Any) -> Any:
    """``IntOrString.UnmarshalJSON``: a string, else ``json.Unmarshal`` into an int32."""
    if isinstance(value, str):
        return value
    problem = type_error_value(value, bits=32)
    if problem is not None:
        raise _Abort(f"json: cannot unmarshal {problem} into Go value of type int32")
    return value


def _quantity(value: Any) -> Any:
    """``Quantity.UnmarshalJSON``: the JSON text, unquoted and trimmed, must parse."""
    if isinstance(value, str):
        text = value.strip()
    elif isinstance(value, bool):
        text = "true" if value else "false"
    elif isinstance(value, int | float):
        text = repr(value)
    else:
        text = "{" if isinstance(value, dict) else "["
    error = quantity_error(text)
    if error is not None:
        raise _Abort(error)
    return value


def _zero(schema: Schema) -> Any:
    """The zero value Go stores for a ``null`` list item or map value."""
    name, body = resolve(schema)
    kinds = body.get("type", [])
    if name is not None and "properties" in body:
        return {}
    if "string" in kinds:
        return ""
    if "integer" in kinds or "number" in kinds:
        return 0
    return False if "boolean" in kinds else None
