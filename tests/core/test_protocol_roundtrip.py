"""Every message type survives encode → decode unchanged."""

from __future__ import annotations

import dataclasses

import pytest
from hypothesis import given
from hypothesis import strategies as st
from protocol_strategies import messages, messages_of

from podtap.core.protocol import MESSAGE_TYPES, TAGS, Message, decode, encode, from_wire, to_wire


def assert_same_types(a: object, b: object) -> None:
    """Equal is not enough: a StrEnum equals its str value, a list never equals a tuple."""
    assert type(a) is type(b), (a, b)
    if dataclasses.is_dataclass(a):
        for field in dataclasses.fields(a):
            assert_same_types(getattr(a, field.name), getattr(b, field.name))
    elif isinstance(a, tuple) and isinstance(b, tuple):
        for x, y in zip(a, b, strict=True):
            assert_same_types(x, y)
    elif isinstance(a, dict) and isinstance(b, dict):
        for key in a:
            assert_same_types(a[key], b[key])


@pytest.mark.parametrize("cls", MESSAGE_TYPES, ids=lambda cls: cls.__name__)
@given(data=st.data())
def test_round_trip_every_type(cls: type, data: st.DataObject) -> None:
    message = data.draw(messages_of(cls))
    frame = encode(message)
    assert isinstance(frame, bytes)
    assert decode(frame) == message
    assert_same_types(decode(frame), message)
    assert type(decode(frame)) is cls


@given(messages())
def test_encoding_is_deterministic(message: Message) -> None:
    assert encode(message) == encode(decode(encode(message)))


@given(messages())
def test_to_wire_from_wire_are_inverse(message: Message) -> None:
    import msgpack

    raw = msgpack.unpackb(msgpack.packb(to_wire(message)), use_list=False)
    assert from_wire(raw) == message


def test_tags_are_unique_and_short() -> None:
    assert len(TAGS) == len(MESSAGE_TYPES)
    assert all(len(tag) <= 20 and tag.isascii() for tag in TAGS)
    assert {TAGS[cls.TAG] for cls in MESSAGE_TYPES} == set(MESSAGE_TYPES)


def test_messages_are_frozen_slotted_dataclasses() -> None:
    for cls in MESSAGE_TYPES:
        assert dataclasses.is_dataclass(cls)
        params = vars(cls)["__dataclass_params__"]
        assert params.frozen, cls
        assert hasattr(cls, "__slots__"), cls
