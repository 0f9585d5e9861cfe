"""Admission's refusals, worded as kube-apiserver v1.37 words them.

Three shapes reach a kubectl user when a manifest is bad, and each is copied from the server:

* a body that does not *decode* (wrong type, unknown field under ``fieldValidation=Strict``) is a
  400 ``BadRequest`` from ``transformDecodeError``: ``Deployment in version "v1" cannot be
  handled as a Deployment: <decoder error>``;
* an object that decodes but breaks a rule is a 422 ``Invalid`` from ``errors.NewInvalid``, its
  message the ``field.ErrorList`` aggregate and each error a ``details.causes`` entry
  (``reason`` = the error type, ``message`` = ``ErrorBody()``, ``field`` = the path);
* a resource the server does not serve is the 404 of the unmatched path.

Bad values are rendered as ``field.Error.ErrorBody`` does since v1.34 (kubernetes PR 132314):
strings ``%q``, numbers and booleans ``%v``, anything composite as JSON — so a label map prints
``{"app":"web"}``, no longer Go's ``map[string]string{...}``.
"""

from __future__ import annotations

import json
import math
from collections.abc import Sequence
from dataclasses import dataclass
from enum import Enum
from typing import Any

from podtap.core.kube.field_errors import aggregate
from podtap.core.kube.goquote import go_quote
from podtap.core.kube.refusal import Refusal, bad_request, invalid

__all__ = [
    "OMIT",
    "Problem",
    "Violation",
    "cannot_handle",
    "go_json",
    "go_number",
    "go_value",
    "refuse_invalid",
    "resource_not_found",
]


class Problem(Enum):
    """``field.ErrorType``: the cause ``reason`` and the words ``ErrorBody`` starts with."""

    NOT_FOUND = ("FieldValueNotFound", "Not found")
    REQUIRED = ("FieldValueRequired", "Required value")
    DUPLICATE = ("FieldValueDuplicate", "Duplicate value")
    INVALID = ("FieldValueInvalid", "Invalid value")
    NOT_SUPPORTED = ("FieldValueNotSupported", "Unsupported value")
    FORBIDDEN = ("FieldValueForbidden", "Forbidden")
    TOO_LONG = ("FieldValueTooLong", "Too long")
    TOO_MANY = ("FieldValueTooMany", "Too many")
    TYPE_INVALID = ("FieldValueTypeInvalid", "Invalid value")

    @property
    def reason(self) -> str:
        return self.value[0]

    @property
    def words(self) -> str:
        return self.value[1]


# These types print no value at all, whatever was passed (ErrorBody's first cases).
_VALUELESS = (Problem.REQUIRED, Problem.FORBIDDEN, Problem.TOO_LONG)


class _Omit:
    """``omitValue``: a ``TooMany`` whose count is unknown prints no value."""


OMIT: Any = _Omit()


def go_number(value: float) -> str:
    """Go's ``%v`` of a float64: shortest form, ``1e+21`` past 21 digits, ``3`` for 3.0."""
    if math.isfinite(value) and value.is_integer() and abs(value) < 1e21:
        return str(int(value))
    text = repr(value)
    if "e" in text:
        mantissa, exponent = text.split("e")
        sign = "-" if exponent.startswith("-") else "+"
        text = f"{mantissa}e{sign}{exponent.lstrip('+-').zfill(2)}"
    return text


def go_json(value: Any) -> str:
    """``json.Marshal``: compact, map keys sorted, ``<``, ``>``, ``&`` escaped as Go does."""
    text = json.dumps(value, separators=(",", ":"), sort_keys=True, ensure_ascii=False)
    for char, escape in (("<", "\\u003c"), (">", "\\u003e"), ("&", "\\u0026")):
        text = text.replace(char, escape)
    return text.replace("\u2028", "\\u2028").replace("\u2029", "\\u2029")


def go_value(value: Any) -> str:
    """A bad value as ``ErrorBody`` prints it (see the module docstring)."""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        return go_number(value)
    if isinstance(value, str):
        return go_quote(value)
    return go_json(value)


@dataclass(frozen=True, slots=True)
class Violation:
    """One ``*field.Error``: its type, dotted path (``spec.ports[0].port``), bad value, detail."""

    problem: Problem
    path: str
    value: Any = ""
    detail: str = ""

    def body(self) -> str:
        """``ErrorBody()``: the message without the path, as ``details.causes[].message``."""
        text = self.problem.words
        if self.problem not in _VALUELESS and self.value is not OMIT:
            text += ": " + go_value(self.value)
        if self.detail:
            text += ": " + self.detail
        return text

    def __str__(self) -> str:
        return f"{self.path or '<nil>'}: {self.body()}"

    def cause(self) -> dict[str, str]:
        """The ``StatusCause`` kube-apiserver writes for this error."""
        return {"reason": self.problem.reason, "message": self.body(), "field": self.path}


def refuse_invalid(*, group: str, kind: str, name: str, violations: Sequence[Violation]) -> Refusal:
    """``errors.NewInvalid``: 422 ``KIND.GROUP "NAME" is invalid: ...`` with one cause each."""
    refusal = invalid(group=group, kind=kind, name=name, errors=aggregate(violations))
    assert refusal.details is not None
    refusal.details["causes"] = [violation.cause() for violation in violations]
    return refusal


def cannot_handle(*, kind: str, version: str, into: str, error: str) -> Refusal:
    """``transformDecodeError``: the 400 for a body that does not decode into the served kind."""
    return bad_request(
        f"{kind} in version {go_quote(version)} cannot be handled as a {into}: {error}"
    )


def resource_not_found() -> Refusal:
    """The 404 for a path no API group serves (a kind the cluster does not know).

    kubectl itself stops earlier, from discovery (``no matches for kind "Foo" in version
    "example.com/v1"``); this is what a client that skips discovery gets, ``details`` empty.
    """
    return Refusal(
        code=404,
        reason="NotFound",
        message="the server could not find the requested resource",
        details={},
    )
