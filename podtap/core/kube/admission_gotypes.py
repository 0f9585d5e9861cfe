"""The few Go types whose own ``UnmarshalJSON`` decides what a built-in object may hold.

Most fields decode by reflection, but some types parse their JSON themselves, and their errors
are what a user sees for a bad value there: ``IntOrString`` (a port, ``maxSurge``) reads an
``int32`` with the standard library, so ``targetPort: true`` fails with ``json: cannot unmarshal
bool into Go value of type int32`` and no field name; a ``Quantity`` (``cpu: 1 core``) fails
with its parser's three errors; a ``[]byte`` (``Secret.data``) is base64 and fails with Go's
``illegal base64 data at input byte N``. Each function returns the error text, or ``None``.
"""

from __future__ import annotations

import re
from typing import Any, Final

__all__ = ["base64_error", "json_kind", "quantity_error", "type_error_value"]

QUANTITY_FORMAT: Final = (
    "quantities must match the regular expression '^([+-]?[0-9.]+)([eEinumkKMGTP]*[-+]?[0-9]*)$'"
)
QUANTITY_SUFFIX: Final = "unable to parse quantity's suffix"
QUANTITY_NUMERIC: Final = "unable to parse numeric part of quantity"

_DIGITS: Final = "0123456789"
_SUFFIX_CHARS: Final = "eEinumkKMGTP"
_SUFFIXES: Final = {"", "n", "u", "m", "k", "M", "G", "T", "P", "E"} | {f"{p}i" for p in "KMGTPE"}
_EXPONENT: Final = re.compile(r"[eE][+-]?[0-9]+")
_NUMBER: Final = re.compile(r"[+-]?([0-9]+\.?[0-9]*|\.[0-9]+)")
_BASE64: Final = frozenset(b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/")
_NEWLINES: Final = (0x0A, 0x0D)


def json_kind(value: Any) -> str:
    """How ``UnmarshalTypeError.Value`` names a JSON value: ``string``, ``number``, ``object``."""
    if isinstance(value, bool):
        return "bool"
    if isinstance(value, int | float):
        return "number"
    if isinstance(value, str):
        return "string"
    return "array" if isinstance(value, list) else "object"


def type_error_value(value: Any, *, bits: int | None) -> str | None:
    """``Value`` of the error decoding ``value`` into an int of ``bits`` (None: not an int).

    A number that is not an integer, or overflows, is named with its literal: ``number 3.5``.
    """
    if bits is None or isinstance(value, bool) or not isinstance(value, int | float):
        return json_kind(value)
    if isinstance(value, float) or not -(2 ** (bits - 1)) <= value < 2 ** (bits - 1):
        return f"number {value!r}"
    return None


def quantity_error(text: str) -> str | None:
    """``resource.ParseQuantity``'s error for ``text``, scanning as ``parseQuantityString``."""
    if not text:
        return QUANTITY_FORMAT
    end = len(text)
    pos = 1 if text[0] in "+-" else 0
    while pos < end and text[pos] in _DIGITS:
        pos += 1
    if pos < end and text[pos] == ".":
        pos += 1
        while pos < end and text[pos] in _DIGITS:
            pos += 1
    number, scan = text[:pos], pos
    while scan < end and text[scan] in _SUFFIX_CHARS:
        scan += 1
    if scan < end and text[scan] in "+-":
        scan += 1
    while scan < end and text[scan] in _DIGITS:
        scan += 1
    if scan < end:
        return QUANTITY_FORMAT
    suffix = text[pos:]
    if suffix not in _SUFFIXES and not _EXPONENT.fullmatch(suffix):
        return QUANTITY_SUFFIX
    return None if _NUMBER.fullmatch(number) else QUANTITY_NUMERIC


def base64_error(text: str) -> str | None:
    """``base64.StdEncoding.Decode``'s ``CorruptInputError``, quantum by quantum as Go reads."""
    offset = _corrupt_at(text.encode())
    return None if offset is None else f"illegal base64 data at input byte {offset}"


def _corrupt_at(data: bytes) -> int | None:
    si, size = 0, len(data)
    while True:
        seen = 0
        while seen < 4:
            if si == size:
                return None if seen == 0 else si - seen
            char = data[si]
            si += 1
            if char in _BASE64:
                seen += 1
            elif char in _NEWLINES:
                continue
            elif char != ord("=") or seen < 2:
                return si - 1
            else:
                return _after_padding(data, si=si, seen=seen)


def _after_padding(data: bytes, *, si: int, seen: int) -> int | None:
    size = len(data)
    if seen == 2:
        while si < size and data[si] in _NEWLINES:
            si += 1
        if si == size:
            return size
        if data[si] != ord("="):
            return si - 1
        si += 1
    while si < size and data[si] in _NEWLINES:
        si += 1
    return si if si < size else None
