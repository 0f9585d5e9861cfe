from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from podtap.core.ids import (
    SessionId,
    StreamIdAllocator,
    format_session_id,
    new_session_id,
    parse_session_id,
)


def test_new_session_ids_are_random_64_bit() -> None:
    ids = {new_session_id() for _ in range(100)}
    assert len(ids) == 100
    assert all(0 < i < 2**64 for i in ids)


def test_format_is_16_uppercase_hex_digits() -> None:
    assert format_session_id(SessionId(0xAB)) == "00000000000000AB"
    assert format_session_id(SessionId(2**64 - 1)) == "FFFFFFFFFFFFFFFF"
    with pytest.raises(ValueError, match="64-bit"):
        format_session_id(SessionId(2**64))


@given(st.integers(0, 2**64 - 1))
def test_parse_inverts_format(value: int) -> None:
    text = format_session_id(SessionId(value))
    assert len(text) == 16 and text == text.upper()
    assert parse_session_id(text) == value
    assert parse_session_id(f" {text.lower()}\n") == value


@pytest.mark.parametrize(
    "text", ["", "123", "0x00000000000000AB", "+00000000000000A", "00000000000000AG", "0" * 17]
)
def test_parse_rejects_anything_else(text: str) -> None:
    with pytest.raises(ValueError, match=r"invalid session id.*16 hexadecimal digits"):
        parse_session_id(text)


def test_stream_id_allocator_sides_never_collide() -> None:
    client, cluster = StreamIdAllocator(client_side=True), StreamIdAllocator(client_side=False)
    ours = [client.next() for _ in range(5)]
    theirs = [cluster.next() for _ in range(5)]
    assert ours == [1, 3, 5, 7, 9]
    assert theirs == [2, 4, 6, 8, 10]
