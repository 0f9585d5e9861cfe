"""Hypothesis strategies for every protocol message, derived from the dataclass hints."""

from __future__ import annotations

import dataclasses
import types
import typing
from enum import StrEnum
from typing import Any

from hypothesis import strategies as st

from podtap.core.ids import Port, RequestId, SessionId, StreamId
from podtap.core.protocol import PAYLOAD_TYPES, Envelope, HttpFilter, Message

_U64 = st.integers(0, 2**64 - 1)
_PRIMITIVES: dict[object, st.SearchStrategy[Any]] = {
    int: st.integers(-(2**63), 2**64 - 1),
    bool: st.booleans(),
    str: st.text(max_size=20),
    bytes: st.binary(max_size=64),
    SessionId: _U64,
    StreamId: _U64,
    RequestId: _U64,
    Port: st.integers(0, 65535),
}


def http_filters(max_leaves: int = 6) -> st.SearchStrategy[HttpFilter]:
    leaf = st.builds(
        HttpFilter,
        header=st.none() | st.text(max_size=10),
        path=st.none() | st.text(max_size=10),
        method=st.none() | st.sampled_from(["GET", "POST", "put"]),
    )
    return st.recursive(
        leaf,
        lambda kids: st.builds(
            HttpFilter,
            header=st.none() | st.text(max_size=5),
            all_of=st.lists(kids, max_size=3).map(tuple),
            any_of=st.lists(kids, max_size=3).map(tuple),
        ),
        max_leaves=max_leaves,
    )


def for_type(tp: Any) -> st.SearchStrategy[Any]:
    """A strategy for values of the field annotation ``tp``."""
    if tp in _PRIMITIVES:
        return _PRIMITIVES[tp]
    if tp is HttpFilter:
        return http_filters()
    if isinstance(tp, type) and issubclass(tp, StrEnum):
        return st.sampled_from(list(tp))
    if isinstance(tp, type) and dataclasses.is_dataclass(tp):
        return structs(tp)
    origin, args = typing.get_origin(tp), typing.get_args(tp)
    if origin in (types.UnionType, typing.Union):
        return st.one_of([st.none() if a is type(None) else for_type(a) for a in args])
    if origin is tuple and len(args) == 2 and args[1] is Ellipsis:
        return st.lists(for_type(args[0]), max_size=4).map(tuple)
    if origin is tuple:
        return st.tuples(*[for_type(a) for a in args])
    if origin is frozenset:
        return st.frozensets(for_type(args[0]), max_size=4)
    if origin is dict:
        return st.dictionaries(for_type(args[0]), for_type(args[1]), max_size=4)
    raise TypeError(f"no strategy for {tp!r}")


def structs(cls: type) -> st.SearchStrategy[Any]:
    hints = typing.get_type_hints(cls)
    kwargs = {f.name: for_type(hints[f.name]) for f in dataclasses.fields(cls)}
    return st.builds(cls, **kwargs)


def payloads() -> st.SearchStrategy[Any]:
    return st.one_of([structs(cls) for cls in PAYLOAD_TYPES])


def envelopes() -> st.SearchStrategy[Envelope]:
    return st.builds(Envelope, session=_U64.map(SessionId), message=payloads())


def messages_of(cls: type) -> st.SearchStrategy[Message]:
    return envelopes() if cls is Envelope else structs(cls)


def messages() -> st.SearchStrategy[Message]:
    return payloads() | envelopes()


# msgpack-representable junk, for "garbage in, only ProtocolError out" tests.
wire_values: st.SearchStrategy[Any] = st.recursive(
    st.none()
    | st.booleans()
    | st.integers(-(2**63), 2**64 - 1)
    | st.floats(allow_nan=False)
    | st.text(max_size=8)
    | st.binary(max_size=8),
    lambda kids: (
        st.lists(kids, max_size=5) | st.dictionaries(st.text(max_size=4), kids, max_size=3)
    ),
    max_leaves=20,
)
