"""Whatever bytes arrive, decode returns a message or raises a ProtocolError."""

from __future__ import annotations

from typing import Any

import msgpack
from hypothesis import given
from hypothesis import strategies as st
from protocol_strategies import messages, wire_values

from podtap.core.protocol import TAGS, Message, ProtocolError, decode, encode


def decode_or_protocol_error(frame: bytes) -> None:
    try:
        result = decode(frame)
    except ProtocolError:
        return
    # Whatever decoded must itself be a valid message.
    assert decode(encode(result)) == result


@given(st.binary(max_size=200))
def test_arbitrary_bytes(frame: bytes) -> None:
    decode_or_protocol_error(frame)


@given(wire_values)
def test_arbitrary_msgpack_values(value: Any) -> None:
    decode_or_protocol_error(msgpack.packb(value))


@given(st.sampled_from(sorted(TAGS)), st.lists(wire_values, max_size=8))
def test_known_tags_with_arbitrary_fields(tag: str, fields: list[Any]) -> None:
    decode_or_protocol_error(msgpack.packb([tag, *fields]))


@given(st.sampled_from(sorted(TAGS)), st.lists(wire_values, max_size=8), st.integers(0, 2**64 - 1))
def test_envelopes_with_arbitrary_fields(tag: str, fields: list[Any], session: int) -> None:
    decode_or_protocol_error(msgpack.packb(["envelope", session, [tag, *fields]]))


@given(messages(), st.data())
def test_truncated_and_mutated_frames(message: Message, data: st.DataObject) -> None:
    frame = bytearray(encode(message))
    decode_or_protocol_error(bytes(frame[: data.draw(st.integers(0, len(frame)))]))
    for _ in range(data.draw(st.integers(1, 4))):
        index = data.draw(st.integers(0, len(frame) - 1))
        frame[index] = data.draw(st.integers(0, 255))
    decode_or_protocol_error(bytes(frame))
