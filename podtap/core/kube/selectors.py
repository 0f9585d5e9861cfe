"""Label selectors as apimachinery has them: requirements, matching, and the canonical string.

A selector is an AND of requirements (``key in (a,b)``, ``key!=v``, ``!key``...). The server
reads one from ``?labelSelector=`` (:func:`podtap.core.kube.selector_parser.parse_selector`) or
from an object's ``LabelSelector`` (:mod:`podtap.core.kube.label_selector`); both end in
:func:`new_requirement`, which validates exactly as ``labels.NewRequirement`` does, so a bad
selector earns the same ``400`` message a real server sends. ``gt``/``lt`` exist because the
string syntax accepts ``x>1`` (the structured form does not). The string form puts requirements
in key order and set values in sorted order, so equal selectors print equal.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from enum import StrEnum
from typing import Final

from podtap.core.kube.field_errors import ErrorType, FieldError, aggregate
from podtap.core.kube.goquote import go_quote
from podtap.core.kube.label_syntax import is_label_key, is_label_value

__all__ = [
    "EVERYTHING",
    "NOTHING",
    "Operator",
    "Requirement",
    "Selector",
    "SelectorError",
    "new_requirement",
    "validate_key",
]


class SelectorError(ValueError):
    """A selector the server refuses; ``str()`` is the message a real server puts in the 400."""


class Operator(StrEnum):
    """``selection.Operator``: the values are Go's, which some messages quote."""

    IN = "in"
    NOT_IN = "notin"
    EQUALS = "="
    DOUBLE_EQUALS = "=="
    NOT_EQUALS = "!="
    GREATER_THAN = "gt"
    LESS_THAN = "lt"
    EXISTS = "exists"
    DOES_NOT_EXIST = "!"


#: The operators a key may be followed by, in the order apimachinery lists them in messages.
BINARY_OPERATORS: Final = (
    Operator.IN,
    Operator.NOT_IN,
    Operator.EQUALS,
    Operator.DOUBLE_EQUALS,
    Operator.NOT_EQUALS,
    Operator.GREATER_THAN,
    Operator.LESS_THAN,
)
_SET_OPS: Final = frozenset({Operator.IN, Operator.NOT_IN})
_EXACT_OPS: Final = frozenset({Operator.EQUALS, Operator.DOUBLE_EQUALS, Operator.NOT_EQUALS})
_UNARY_OPS: Final = frozenset({Operator.EXISTS, Operator.DOES_NOT_EXIST})
_NUMERIC_OPS: Final = frozenset({Operator.GREATER_THAN, Operator.LESS_THAN})
_VALID_OPS: Final = (*BINARY_OPERATORS, Operator.EXISTS, Operator.DOES_NOT_EXIST)
_SPELLING: Final = {
    Operator.EQUALS: "=",
    Operator.DOUBLE_EQUALS: "==",
    Operator.NOT_EQUALS: "!=",
    Operator.IN: " in ",
    Operator.NOT_IN: " notin ",
    Operator.GREATER_THAN: ">",
    Operator.LESS_THAN: "<",
}
_INT64: Final = re.compile(r"[+-]?[0-9]+")


def parse_int64(text: str) -> int | None:
    """Go's ``strconv.ParseInt(text, 10, 64)``, ``None`` where Go returns an error."""
    if not _INT64.fullmatch(text):
        return None
    value = int(text)
    return value if -(2**63) <= value < 2**63 else None


@dataclass(frozen=True, slots=True)
class Requirement:
    """One ``key OP values`` term; build it with :func:`new_requirement` to have it validated."""

    key: str
    operator: Operator
    values: tuple[str, ...] = ()

    def matches(self, labels: Mapping[str, str]) -> bool:
        """Whether ``labels`` satisfy the term (``notin``, ``!=`` hold when the key is absent)."""
        op = self.operator
        if op is Operator.EXISTS:
            return self.key in labels
        if op is Operator.DOES_NOT_EXIST:
            return self.key not in labels
        if self.key not in labels:
            return op in (Operator.NOT_IN, Operator.NOT_EQUALS)
        value = labels[self.key]
        if op in (Operator.IN, Operator.EQUALS, Operator.DOUBLE_EQUALS):
            return value in self.values
        if op in (Operator.NOT_IN, Operator.NOT_EQUALS):
            return value not in self.values
        have, bound = parse_int64(value), parse_int64(self.values[0]) if self.values else None
        if have is None or bound is None or len(self.values) != 1:
            return False
        return have > bound if op is Operator.GREATER_THAN else have < bound

    def __str__(self) -> str:
        if self.operator in _UNARY_OPS:
            return ("!" if self.operator is Operator.DOES_NOT_EXIST else "") + self.key
        shown = self.values[0] if len(self.values) == 1 else ",".join(sorted(self.values))
        if self.operator in _SET_OPS:
            shown = f"({shown})"
        return self.key + _SPELLING[self.operator] + shown


@dataclass(frozen=True, slots=True)
class Selector:
    """An AND of requirements, kept in key order; ``nothing`` is ``labels.Nothing()``."""

    requirements: tuple[Requirement, ...] = ()
    nothing: bool = False

    @classmethod
    def of(cls, requirements: Sequence[Requirement]) -> Selector:
        """The selector of ``requirements``, put in key order (stable, as Go's sort is here)."""
        return cls(tuple(sorted(requirements, key=lambda r: r.key)))

    def matches(self, labels: Mapping[str, str]) -> bool:
        """Whether every requirement holds for ``labels``."""
        return not self.nothing and all(r.matches(labels) for r in self.requirements)

    @property
    def empty(self) -> bool:
        """True when the selector does not restrict anything (and is not ``Nothing``)."""
        return not self.nothing and not self.requirements

    def requires_exact_match(self, key: str) -> str | None:
        """The one value ``key`` must have (``=``, ``==``, ``in`` of one value), else ``None``."""
        for r in self.requirements:
            if r.key == key:
                exact = r.operator in (Operator.EQUALS, Operator.DOUBLE_EQUALS, Operator.IN)
                return r.values[0] if exact and len(r.values) == 1 else None
        return None

    def __str__(self) -> str:
        return ",".join(str(r) for r in self.requirements)


EVERYTHING: Final = Selector()
NOTHING: Final = Selector(nothing=True)


def _child(path: str | None, name: str) -> str:
    return name if path is None else f"{path}.{name}"


def validate_key(key: str, path: str | None) -> FieldError | None:
    """``validateLabelKey``: the complaint about ``key`` at ``path``, or ``None``."""
    errors = is_label_key(key)
    return FieldError(ErrorType.INVALID, path, key, "; ".join(errors)) if errors else None


def _operator_errors(op: Operator, values: Sequence[str], path: str) -> list[FieldError]:
    invalid = ErrorType.INVALID
    if op in _SET_OPS and not values:
        return [
            FieldError(
                invalid, path, values, "for 'in', 'notin' operators, values set can't be empty"
            )
        ]
    if op in _EXACT_OPS and len(values) != 1:
        return [
            FieldError(invalid, path, values, "exact-match compatibility requires one single value")
        ]
    if op in _UNARY_OPS and values:
        return [
            FieldError(
                invalid, path, values, "values set must be empty for exists and does not exist"
            )
        ]
    if op not in _NUMERIC_OPS:
        return []
    errors = []
    if len(values) != 1:
        errors.append(
            FieldError(
                invalid, path, values, "for 'Gt', 'Lt' operators, exactly one value is required"
            )
        )
    for i, value in enumerate(values):
        if parse_int64(value) is None:
            detail = "for 'Gt', 'Lt' operators, the value must be an integer"
            errors.append(FieldError(invalid, f"{path}[{i}]", value, detail))
    return errors


def new_requirement(
    key: str, operator: Operator | str, values: Sequence[str] = (), *, path: str | None = None
) -> Requirement:
    """``labels.NewRequirement``: a validated term, or :class:`SelectorError` with every complaint.

    ``operator`` may be any string: one that is not an :class:`Operator` is refused as Go refuses
    it (``operator: Unsupported value``). ``path`` prefixes the field paths in messages.
    """
    errors: list[FieldError] = []
    key_error = validate_key(key, _child(path, "key"))
    if key_error:
        errors.append(key_error)
    values_path = _child(path, "values")
    try:
        op = Operator(operator)
    except ValueError:
        op = None
        supported = ", ".join(go_quote(o.value) for o in _VALID_OPS)
        errors.append(
            FieldError(
                ErrorType.NOT_SUPPORTED,
                _child(path, "operator"),
                str(operator),
                "supported values: " + supported,
            )
        )
    if op is not None:
        errors.extend(_operator_errors(op, values, values_path))
    for i, value in enumerate(values):
        complaints = is_label_value(value)
        if complaints:
            errors.append(
                FieldError(
                    ErrorType.INVALID, f"{values_path}[{i}][{key}]", value, "; ".join(complaints)
                )
            )
    if errors:
        raise SelectorError(aggregate(errors))
    assert op is not None
    return Requirement(key, op, tuple(values))
