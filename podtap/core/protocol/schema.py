"""Build per-type wire converters once, from the dataclass type hints.

A struct travels as a msgpack array of its fields in declaration order. Decoding accepts
extra trailing items (fields added by a newer peer: ignored) and missing trailing items
that have defaults (fields this side added: defaulted). All reflection happens here, at
import time; the converters themselves only check types and build objects (by field
name: every struct is a keyword-only dataclass, its field order is the wire order).
"""

from __future__ import annotations

import dataclasses
import types
import typing
from enum import StrEnum
from operator import attrgetter
from typing import Any, Final

from podtap.core.protocol.errors import MalformedFrame
from podtap.core.protocol.wire_types import (
    MAX_DEPTH,
    PRIMITIVES,
    Decoder,
    Encoder,
    array_of,
    bad,
    enum_of,
    fixed_array,
    map_of,
    optional,
    set_of,
)

# Decoders that return their input unchanged (so containers of them need no rebuild).
_IDENTITY: Final[set[Decoder]] = {*PRIMITIVES.values()}


def converters(tp: Any) -> tuple[Decoder, Encoder | None]:
    """Decoder and encoder (``None`` = identity) for a field annotation."""
    if tp in PRIMITIVES:
        return PRIMITIVES[tp], None
    if isinstance(tp, type) and issubclass(tp, StrEnum):
        return enum_of(tp), None  # a StrEnum member packs as its str value
    if isinstance(tp, type) and dataclasses.is_dataclass(tp):
        return _struct_ref(tp), _struct_encoder_ref(tp)
    origin, args = typing.get_origin(tp), typing.get_args(tp)
    if origin in (types.UnionType, typing.Union) and len(args) == 2 and type(None) in args:
        (inner_tp,) = [a for a in args if a is not type(None)]
        dec, enc = converters(inner_tp)
        opt = optional(dec)
        if dec in _IDENTITY:
            _IDENTITY.add(opt)
        if enc is None:
            return opt, None
        inner_enc = enc
        return opt, lambda v: None if v is None else inner_enc(v)
    if origin is tuple and len(args) == 2 and args[1] is Ellipsis:
        dec, enc = converters(args[0])
        arr = array_of(dec, rebuild=dec not in _IDENTITY)
        if dec in _IDENTITY:
            _IDENTITY.add(arr)
        if enc is None:
            return arr, None
        item_enc = enc
        return arr, lambda v: [item_enc(x) for x in v]
    if origin is tuple:
        pairs = [converters(a) for a in args]
        if any(enc is not None for _, enc in pairs):
            raise TypeError(f"unsupported wire type {tp!r}")
        decs = tuple(dec for dec, _ in pairs)
        fixed = fixed_array(decs, rebuild=not all(d in _IDENTITY for d in decs))
        if all(d in _IDENTITY for d in decs):
            _IDENTITY.add(fixed)
        return fixed, None
    if origin is frozenset:
        dec, enc = converters(args[0])
        if enc is not None:
            raise TypeError(f"unsupported wire type {tp!r}")
        return set_of(dec), sorted
    if origin is dict:
        (kdec, kenc), (vdec, venc) = converters(args[0]), converters(args[1])
        if kenc is not None or venc is not None:
            raise TypeError(f"unsupported wire type {tp!r}")
        return map_of(kdec, vdec), None
    raise TypeError(f"unsupported wire type {tp!r}")


# Structs (nested dataclasses, possibly recursive like HttpFilter) are resolved lazily.
_STRUCT_DECODERS: Final[dict[type, Decoder]] = {}
_STRUCT_ENCODERS: Final[dict[type, Encoder]] = {}


def _struct_ref(cls: type) -> Decoder:
    def call(v: Any, d: int) -> Any:
        return _STRUCT_DECODERS[cls](v, d)

    if cls not in _STRUCT_DECODERS:
        _STRUCT_DECODERS[cls] = call  # placeholder while building (recursion)
        _STRUCT_DECODERS[cls] = struct_decoder(cls, start=0)
        _STRUCT_ENCODERS[cls] = struct_encoder(cls, tag=None)
    return call


def _struct_encoder_ref(cls: type) -> Encoder:
    return lambda v: _STRUCT_ENCODERS[cls](v)


def _fields(cls: type) -> list[tuple[str, Decoder, Encoder | None, bool]]:
    hints = typing.get_type_hints(cls)
    out = []
    for f in dataclasses.fields(cls):
        dec, enc = converters(hints[f.name])
        has_default = (
            f.default is not dataclasses.MISSING or f.default_factory is not dataclasses.MISSING
        )
        out.append((f.name, dec, enc, has_default))
    return out


def struct_decoder(cls: type, *, start: int) -> Decoder:
    """Decoder of ``cls`` from an array whose fields begin at index ``start``."""
    fields = _fields(cls)
    required = start + sum(1 for *_, has_default in fields if not has_default)
    names = [name for name, *_ in fields]
    decs = [dec for _, dec, _, _ in fields]
    label = getattr(cls, "TAG", cls.__name__)
    stop = start + len(fields)

    def decode(v: Any, d: int) -> Any:
        if type(v) is not tuple:
            raise bad(f"{label} array", v)
        if d > MAX_DEPTH:
            raise MalformedFrame(f"{label}: nested deeper than {MAX_DEPTH} levels")
        if len(v) < required:
            raise MalformedFrame(f"{label}: missing field {names[max(len(v) - start, 0)]!r}")
        d += 1
        # The structs are keyword-only: the decoded prefix of the fields goes in by name
        # (missing trailing fields keep their defaults; extra items are sliced off).
        kwargs: dict[str, Any] = {}
        try:
            for x in v[start:stop]:
                i = len(kwargs)
                kwargs[names[i]] = decs[i](x, d)
        except MalformedFrame as exc:
            raise MalformedFrame(f"{label}.{names[len(kwargs)]}: {exc.message}") from None
        return cls(**kwargs)

    return decode


def struct_encoder(cls: type, *, tag: str | None) -> Encoder:
    """Encoder of ``cls`` to a tuple, prefixed with ``tag`` if given."""
    fields = _fields(cls)
    head = () if tag is None else (tag,)
    if not fields:
        return lambda v: head
    getter = attrgetter(*[name for name, *_ in fields])
    convert = [(i + len(head), enc) for i, (_, _, enc, _) in enumerate(fields) if enc]
    if len(fields) == 1:
        ((_, _, enc, _),) = fields
        if enc is None:
            return lambda v: (*head, getter(v))
        single = enc
        return lambda v: (*head, single(getter(v)))
    if not convert:
        return lambda v: head + getter(v)

    def encode(v: Any) -> Any:
        out = [*head, *getter(v)]
        for i, enc in convert:
            out[i] = enc(out[i])
        return out

    return encode
