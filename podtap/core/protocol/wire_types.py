"""Leaf wire converters: type checks for primitives and containers of decoded msgpack.

A decoder takes the unpacked value (arrays are tuples) and the current nesting depth and
returns the Python value or raises :class:`MalformedFrame`. They never reflect on types.
"""

from __future__ import annotations

from collections.abc import Callable
from enum import StrEnum
from typing import Any, Final

from podtap.core.ids import MAX_PORT, Port, RequestId, SessionId, StreamId
from podtap.core.protocol.errors import MalformedFrame

Decoder = Callable[[Any, int], Any]
"""(wire value, nesting depth) -> Python value; raises MalformedFrame."""
Encoder = Callable[[Any], Any]
"""Python value -> msgpack-ready value; ``None`` in a spec means identity."""

MAX_DEPTH: Final = 32
"""Deepest struct nesting accepted in one frame."""

_KINDS: Final = {
    type(None): "nil",
    bool: "bool",
    int: "int",
    float: "float",
    str: "str",
    bytes: "bin",
    tuple: "array",
    dict: "map",
}


def kind(value: object) -> str:
    """msgpack-ish name of a decoded value's type, for error messages."""
    return _KINDS.get(type(value), "ext")


def bad(expected: str, value: object) -> MalformedFrame:
    return MalformedFrame(f"expected {expected}, got {kind(value)}")


def _int(v: Any, d: int) -> Any:
    if type(v) is not int:
        raise bad("int", v)
    return v


def _uint(v: Any, d: int) -> Any:
    if type(v) is not int or v < 0:
        raise bad("unsigned int", v)
    return v


def _port(v: Any, d: int) -> Any:
    if type(v) is not int or not 0 <= v <= MAX_PORT:
        raise MalformedFrame(f"expected port 0..65535, got {v!r}"[:80])
    return v


def _simple(tp: type, name: str) -> Decoder:
    def check(v: Any, d: int) -> Any:
        if type(v) is not tp:
            raise bad(name, v)
        return v

    return check


def _headers(v: Any, d: int) -> Any:
    # Hot (every HTTP head), so checked inline rather than through nested converters.
    if type(v) is not tuple:
        raise bad("array", v)
    for pair in v:
        if (
            type(pair) is not tuple
            or len(pair) != 2
            or type(pair[0]) is not bytes
            or type(pair[1]) is not bytes
        ):
            raise MalformedFrame(f"expected [name, value] bin pairs, got {kind(pair)}")
    return v


PRIMITIVES: Final[dict[object, Decoder]] = {
    tuple[tuple[bytes, bytes], ...]: _headers,
    int: _int,
    bool: _simple(bool, "bool"),
    str: _simple(str, "str"),
    bytes: _simple(bytes, "bin"),
    SessionId: _uint,
    StreamId: _uint,
    RequestId: _uint,
    Port: _port,
}


def enum_of(enum: type[StrEnum]) -> Decoder:
    def check(v: Any, d: int) -> Any:
        if type(v) is not str:
            raise bad("str", v)
        try:
            return enum(v)
        except ValueError:
            raise MalformedFrame(f"{v[:40]!r} is not a {enum.__name__}") from None

    return check


def optional(inner: Decoder) -> Decoder:
    def check(v: Any, d: int) -> Any:
        return None if v is None else inner(v, d)

    return check


def array_of(inner: Decoder, *, rebuild: bool) -> Decoder:
    def check(v: Any, d: int) -> Any:
        if type(v) is not tuple:
            raise bad("array", v)
        if rebuild:
            return tuple([inner(x, d) for x in v])
        for x in v:
            inner(x, d)
        return v

    return check


def fixed_array(inners: tuple[Decoder, ...], *, rebuild: bool) -> Decoder:
    size = len(inners)

    def check(v: Any, d: int) -> Any:
        if type(v) is not tuple or len(v) != size:
            raise bad(f"array of {size}", v)
        if rebuild:
            return tuple([dec(x, d) for dec, x in zip(inners, v, strict=True)])
        for dec, x in zip(inners, v, strict=True):
            dec(x, d)
        return v

    return check


def set_of(inner: Decoder) -> Decoder:
    def check(v: Any, d: int) -> Any:
        if type(v) is not tuple:
            raise bad("array", v)
        return frozenset([inner(x, d) for x in v])

    return check


def map_of(key: Decoder, value: Decoder) -> Decoder:
    def check(v: Any, d: int) -> Any:
        if type(v) is not dict:
            raise bad("map", v)
        for k, x in v.items():
            key(k, d)
            value(x, d)
        return v

    return check
