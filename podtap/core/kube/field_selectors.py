"""Field selectors (``?fieldSelector=``): parsing, escaping and matching as apimachinery does.

The syntax is ``FIELD=VALUE``, ``FIELD==VALUE`` or ``FIELD!=VALUE`` joined by commas; ``\\,``,
``\\=`` and ``\\\\`` escape within a value (``fields.EscapeValue``), and the field name has no
escapes, so the first operator in a term splits it. A field an object lacks reads as ``""``,
as ``fields.Set.Get`` has it, so ``spec.nodeName=`` selects unscheduled pods. Which fields a
kind supports, and what they hold, is :mod:`podtap.core.kube.field_labels`'s business.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, replace
from typing import Final

from podtap.core.kube.selectors import SelectorError

__all__ = [
    "FieldRequirement",
    "FieldSelector",
    "escape_value",
    "parse_field_selector",
    "unescape_value",
]

_OPERATORS: Final = ("!=", "==", "=")


@dataclass(frozen=True, slots=True)
class FieldRequirement:
    """``field=value`` (``equals``) or ``field!=value``."""

    field: str
    value: str
    equals: bool = True

    def matches(self, fields: Mapping[str, str]) -> bool:
        """Whether ``fields`` (a missing field reads as ``""``) satisfy the term."""
        return (fields.get(self.field, "") == self.value) is self.equals

    def __str__(self) -> str:
        return f"{self.field}{'=' if self.equals else '!='}{self.value}"


@dataclass(frozen=True, slots=True)
class FieldSelector:
    """An AND of :class:`FieldRequirement`, in the order the parser sorted the terms."""

    requirements: tuple[FieldRequirement, ...] = ()

    def matches(self, fields: Mapping[str, str]) -> bool:
        """Whether every term holds."""
        return all(r.matches(fields) for r in self.requirements)

    @property
    def empty(self) -> bool:
        """True when nothing is restricted."""
        return not self.requirements

    def requires_exact_match(self, field: str) -> str | None:
        """The value an ``=`` term demands of ``field``, else ``None``."""
        for r in self.requirements:
            if r.field == field and r.equals:
                return r.value
        return None

    def transform(self, convert: Callable[[str, str], tuple[str, str]]) -> FieldSelector:
        """Each term through ``convert(field, value)`` (the per-kind label conversion)."""
        terms = []
        for r in self.requirements:
            field, value = convert(r.field, r.value)
            terms.append(replace(r, field=field, value=value))
        return FieldSelector(tuple(terms))

    def __str__(self) -> str:
        return ",".join(str(r) for r in self.requirements)


def escape_value(value: str) -> str:
    """``fields.EscapeValue``: a literal value made safe to put after ``=``."""
    return value.replace("\\", "\\\\").replace(",", "\\,").replace("=", "\\=")


def unescape_value(text: str) -> str:
    """``fields.UnescapeValue``: the literal a value spells, or :class:`SelectorError`."""
    if not any(char in text for char in "\\,="):
        return text
    out: list[str] = []
    escaped = False
    for char in text:
        if escaped:
            if char not in "\\,=":
                raise SelectorError(f"invalid field selector: invalid escape sequence: \\{char}")
            out.append(char)
            escaped = False
        elif char == "\\":
            escaped = True
        elif char in ",=":
            # Go prints the rune with %v, which is its number.
            raise SelectorError(
                f"invalid field selector: unescaped character in value: {ord(char)}"
            )
        else:
            out.append(char)
    if escaped:
        raise SelectorError("invalid field selector: invalid escape sequence: \\")
    return "".join(out)


def _split_terms(text: str) -> list[str]:
    terms: list[str] = []
    start = 0
    escaped = False
    for i, char in enumerate(text):
        if escaped:
            escaped = False
        elif char == "\\":
            escaped = True
        elif char == ",":
            terms.append(text[start:i])
            start = i + 1
    terms.append(text[start:])
    return terms if text else []


def _split_term(term: str) -> tuple[str, str, str] | None:
    for i in range(len(term)):
        for op in _OPERATORS:
            if term.startswith(op, i):
                return term[:i], op, term[i + len(op) :]
    return None


def parse_field_selector(text: str) -> FieldSelector:
    """``fields.ParseSelector``: terms sorted as strings (as Go sorts them), values unescaped."""
    terms: list[FieldRequirement] = []
    for part in sorted(_split_terms(text)):
        if not part:
            continue
        split = _split_term(part)
        if split is None:
            raise SelectorError(f"invalid selector: '{text}'; can't understand '{part}'")
        field, op, value = split
        terms.append(FieldRequirement(field, unescape_value(value), equals=op != "!="))
    return FieldSelector(tuple(terms))
