"""Validating a custom resource against its CRD's ``openAPIV3Schema``, in kube-openapi's words.

``jsonschema`` (Draft 4, the dialect OpenAPI 3.0 schemas speak) does the checking; what it
finds is reworded as ``apiextensions-apiserver/pkg/apiserver/validation`` converts kube-openapi's
errors into field errors, so a client sees ``spec.replicas: Invalid value: "string":
spec.replicas in body must be of type integer: "string"`` (the value shown for a type error is
the *type* found), ``spec.size: Unsupported value: "XL": supported values: "S", "M"``,
``spec.image: Required value``. Two keywords behave as kube-openapi has them, not as JSON Schema
does: ``type`` honours ``nullable`` and ``x-kubernetes-int-or-string`` and takes ``1.0`` as an
integer; ``required`` names each missing field's own path. CEL rules
(``x-kubernetes-validations``) and ``format`` are not checked.
"""

from __future__ import annotations

import functools
import json
from collections.abc import Iterator
from typing import Any, Final

from jsonschema import Draft4Validator, ValidationError, validators
from jsonschema.protocols import Validator

from podtap.core.field_path import field_path
from podtap.core.kube.admission_errors import Problem, Violation, go_json, go_number

__all__ = ["validate_custom"]

Schema = dict[str, Any]
# The order kube-openapi's validators run in on one value (type, composition, ..., enum).
_RANK: Final = {"type": 0, "allOf": 1, "anyOf": 1, "oneOf": 1, "not": 1, "enum": 9}


def _kind(value: Any) -> str:
    """kube-openapi's name for a value's type."""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "boolean"
    if isinstance(value, int):
        return "integer"
    if isinstance(value, float):
        return "integer" if value.is_integer() else "number"
    if isinstance(value, str):
        return "string"
    return "array" if isinstance(value, list) else "object"


def _accepts(expected: str, found: str) -> bool:
    return expected == found or (expected == "number" and found == "integer")


def _type(
    validator: Validator, types: Any, instance: Any, schema: Schema
) -> Iterator[ValidationError]:
    expected = ["integer", "string"] if schema.get("x-kubernetes-int-or-string") else [types]
    if instance is None and schema.get("nullable"):
        return
    found = _kind(instance)
    if not any(_accepts(kind, found) for kind in expected):
        yield ValidationError(",".join(expected), instance=found)


def _int_or_string(
    validator: Validator, flag: Any, instance: Any, schema: Schema
) -> Iterator[ValidationError]:
    if flag and "type" not in schema:
        yield from _type(validator, "", instance, schema)


def _required(
    validator: Validator, required: Any, instance: Any, schema: Schema
) -> Iterator[ValidationError]:
    if isinstance(instance, dict):
        for name in required:
            if name not in instance:
                yield ValidationError("required", path=[name])


_Checker = validators.extend(  # type: ignore[no-untyped-call]
    Draft4Validator,
    {"type": _type, "required": _required, "x-kubernetes-int-or-string": _int_or_string},
)


@functools.lru_cache(maxsize=128)
def _compiled(text: str) -> Validator:
    validator: Validator = _Checker(json.loads(text))
    return validator


def _number(value: Any) -> str:
    return go_number(value) if isinstance(value, float) else str(value)


def _violations(error: ValidationError) -> list[Violation]:
    path = field_path(list(error.absolute_path))
    keyword = error.validator
    limit: Any = error.validator_value
    value: Any = error.instance
    body = f"{path} in body"
    match keyword:
        case "type" | "x-kubernetes-int-or-string":
            found = error.instance
            detail = f"{body} must be of type {error.message}: {json.dumps(found)}"
            return [Violation(Problem.TYPE_INVALID, path, found, detail)]
        case "required":
            return [Violation(Problem.REQUIRED, path)]
        case "enum":
            allowed = ", ".join(json.dumps(v if isinstance(v, str) else go_json(v)) for v in limit)
            return [Violation(Problem.NOT_SUPPORTED, path, value, f"supported values: {allowed}")]
        case "maxLength":
            return [Violation(Problem.TOO_LONG, path, value, f"may not be more than {limit} bytes")]
        case "maxItems" | "maxProperties":
            return [
                Violation(Problem.TOO_MANY, path, len(value), f"must have at most {limit} items")
            ]
        case "anyOf" | "oneOf" | "allOf" | "not":
            return _composite(error, path)
    return [Violation(Problem.INVALID, path, *_detail(keyword, limit, value, error, body))]


def _detail(
    keyword: Any, limit: Any, value: Any, error: ValidationError, body: str
) -> tuple[Any, str]:
    schema: Schema = error.schema if isinstance(error.schema, dict) else {}
    match keyword:
        case "minimum":
            words = "greater than" if schema.get("exclusiveMinimum") else "greater than or equal to"
            return value, f"{body} should be {words} {_number(limit)}"
        case "maximum":
            words = "less than" if schema.get("exclusiveMaximum") else "less than or equal to"
            return value, f"{body} should be {words} {_number(limit)}"
        case "multipleOf":
            return value, f"{body} should be a multiple of {_number(limit)}"
        case "minLength":
            return value, f"{body} should be at least {limit} chars long"
        case "pattern":
            return value, f"{body} should match '{limit}'"
        case "minItems":
            return len(value), f"{body} should have at least {limit} items"
        case "minProperties":
            return len(value), f"{body} should have at least {limit} properties"
        case "uniqueItems":
            return "", f"{body} shouldn't contain duplicates"
    return value, str(error.message)


def _composite(error: ValidationError, path: str) -> list[Violation]:
    words = {
        "anyOf": "must validate at least one schema (anyOf)",
        "oneOf": "must validate one and only one schema (oneOf). Found none valid",
        "allOf": "must validate all the schemas (allOf). None validated",
        "not": "must not validate the schema (not)",
    }[str(error.validator)]
    out = [Violation(Problem.INVALID, "<nil>", "", f'"{path}" {words}')]
    for child in sorted(error.context or (), key=_order):
        out.extend(_violations(child))
    return out


def _order(error: ValidationError) -> tuple[str, int]:
    return field_path(list(error.absolute_path)), _RANK.get(str(error.validator), 5)


def validate_custom(obj: dict[str, Any], *, schema: Schema) -> list[Violation]:
    """Every violation of ``schema`` by ``obj``, ordered by path, type errors first."""
    checker = _compiled(json.dumps(schema, sort_keys=True))
    out: list[Violation] = []
    for error in sorted(checker.iter_errors(obj), key=_order):
        for violation in _violations(error):
            if violation not in out:
                out.append(violation)
    return out
