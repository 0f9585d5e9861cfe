"""Wire format details: layout, forward compatibility, and every kind of bad input."""

from __future__ import annotations

import msgpack
import pytest

from podtap.core.ids import SessionId, StreamId
from podtap.core.protocol import (
    MAX_FRAME_SIZE,
    BodyChunk,
    Close,
    CloseReason,
    Data,
    DirEntry,
    EncodeError,
    Envelope,
    ErrorCode,
    ErrorFrame,
    FileReadDirResult,
    Hello,
    HttpFilter,
    IncomingMode,
    MalformedFrame,
    Ping,
    ProtocolError,
    StreamClose,
    Subscribe,
    UnknownMessageType,
    decode,
    encode,
)


def pack(*items: object) -> bytes:
    return msgpack.packb(list(items))


def test_data_frame_layout_is_a_small_array() -> None:
    assert encode(Data(stream=StreamId(1), data=b"abc")) == b"\x93\xa4data\x01\xc4\x03abc"


def test_features_encode_sorted() -> None:
    hello = Hello(
        min_version=1,
        max_version=2,
        features=frozenset({"b", "a"}),
        peer_name="client",
        peer_version="0.1",
    )
    assert msgpack.unpackb(encode(hello)) == ["hello", 1, 2, ["a", "b"], "client", "0.1"]


def test_envelope_nests_the_frame() -> None:
    frame = encode(Envelope(session=SessionId(7), message=Ping(nonce=3)))
    assert msgpack.unpackb(frame) == ["envelope", 7, ["ping", 3]]


def test_unknown_trailing_fields_are_ignored() -> None:
    assert decode(pack("data", 1, b"x", "from the future", {"k": [1, 2]})) == Data(
        stream=StreamId(1), data=b"x"
    )


def test_unknown_fields_in_nested_structs_are_ignored() -> None:
    frame = pack("subscribe", 1, 80, "steal", [None, "/api", None, [], [], "new", 5])
    assert decode(frame) == Subscribe(
        request=1, port=80, mode=IncomingMode.STEAL, http_filter=HttpFilter(path="/api")
    )  # type: ignore[arg-type]


def test_missing_optional_fields_take_defaults() -> None:
    assert decode(pack("close_stream", 5)) == StreamClose(stream=StreamId(5))
    assert decode(pack("close", "Killed")) == Close(reason=CloseReason.KILLED, message="")


def test_missing_required_field_is_named() -> None:
    with pytest.raises(MalformedFrame, match="data: missing field 'data'"):
        decode(pack("data", 1))


def test_unknown_type_tag_carries_the_tag() -> None:
    with pytest.raises(UnknownMessageType) as info:
        decode(pack("teleport", 1, 2))
    assert info.value.tag == "teleport"
    assert info.value.error_frame() == ErrorFrame(
        code=ErrorCode.UNKNOWN_MESSAGE_TYPE,
        message="unknown message type 'teleport'",
        in_reply_to="teleport",
    )


def test_unknown_type_inside_envelope_is_reported_as_unknown() -> None:
    with pytest.raises(UnknownMessageType, match="teleport"):
        decode(pack("envelope", 1, ["teleport"]))


def test_unknown_close_reason_and_error_code_fall_back_to_other() -> None:
    assert decode(pack("close", "Meteor", "boom")) == Close(
        reason=CloseReason.OTHER, message="boom"
    )
    assert decode(pack("error", "new_code", "x")).code is ErrorCode.OTHER  # type: ignore[union-attr]


@pytest.mark.parametrize(
    ("frame", "match"),
    [
        (b"", "not a msgpack frame"),
        (b"\xc1", "not a msgpack frame"),
        (b"\x93\xa4data", "not a msgpack frame"),  # truncated
        (pack("data", 1, b"x") + b"\x00", "not a msgpack frame"),  # trailing bytes
        (msgpack.packb(5), "non-empty array"),
        (pack(), "non-empty array"),
        (pack(7, 1), "tag must be a str"),
        (pack("x" * 100), "too long"),
        (pack("data", "1", b"x"), r"data\.stream: expected unsigned int, got str"),
        (pack("data", -1, b"x"), r"data\.stream: expected unsigned int"),
        (pack("data", True, b"x"), r"data\.stream: expected unsigned int, got bool"),
        (pack("data", 1, "x"), r"data\.data: expected bin, got str"),
        (pack("data", 1, 1.5), r"data\.data: expected bin, got float"),
        (pack("subscribe", 1, 70000, "steal"), r"subscribe\.port: expected port"),
        (pack("subscribe", 1, 80, "borrow"), "'borrow' is not a IncomingMode"),
        (pack("subscribe", 1, 80, "steal", [1]), r"http_filter: HttpFilter\.header"),
        (
            pack("http_request", 1, 2, "GET", "/", "1.1", [[b"a"]]),
            r"headers: expected \[name, value\] bin pairs",
        ),
        (pack("env_result", 1, {"A": 1}), r"env_result\.env: expected str, got int"),
        (pack("envelope", 1), "envelope: expected"),
        (pack("envelope", -1, ["ping", 1]), r"envelope\.session"),
        (pack("envelope", 1, ["envelope", 2, ["ping", 1]]), "cannot be nested"),
        (pack("envelope", 1, ["ping", "x"]), r"envelope\.message: ping\.nonce"),
        (b"\x92\xa4ping\xd6\xff\x00\x00\x00\x01", r"ping\.nonce: expected int, got ext"),
        (b"\x91" * 5000 + b"\xc0", "not a msgpack frame"),
        (b"\x81\x01\x02", "not a msgpack frame"),  # int map key
        (b"\xc6\xff\xff\xff\xff", "not a msgpack frame"),  # 4 GiB bin header, no body
    ],
)
def test_bad_frames_raise_malformed(frame: bytes, match: str) -> None:
    with pytest.raises(MalformedFrame, match=match) as info:
        decode(frame)
    assert info.value.error_frame().code is ErrorCode.MALFORMED_FRAME


def test_deeply_nested_filters_are_refused() -> None:
    nested: list[object] = [None, "/", None, [], []]
    for _ in range(40):
        nested = [None, None, None, [nested], []]
    with pytest.raises(MalformedFrame, match="nested deeper"):
        decode(pack("subscribe", 1, 80, "steal", nested))


def test_frame_size_limit() -> None:
    frame = encode(Data(stream=StreamId(1), data=b"x" * 1000))
    with pytest.raises(MalformedFrame, match="exceeds"):
        decode(frame, max_size=100)
    assert MAX_FRAME_SIZE >= 1024 * 1024


def test_non_bytes_input_is_a_protocol_error() -> None:
    with pytest.raises(ProtocolError):
        decode("hello")  # type: ignore[arg-type]


def test_non_utf8_strings_round_trip_as_surrogate_escapes() -> None:
    name = b"caf\xe9.txt".decode("utf-8", "surrogateescape")
    message = FileReadDirResult(
        request=1, entries=(DirEntry(name=name, is_dir=False, is_link=False),)
    )  # type: ignore[arg-type]
    assert decode(encode(message)) == message
    raw = msgpack.unpackb(encode(message), raw=True)
    assert raw[2][0][0] == b"caf\xe9.txt"


def test_hot_path_messages_keep_bytes_objects() -> None:
    payload = b"x" * 65536
    decoded = decode(encode(BodyChunk(stream=StreamId(1), request=2, data=payload)))  # type: ignore[arg-type]
    assert isinstance(decoded, BodyChunk) and decoded.data == payload


@pytest.mark.parametrize(
    "bad",
    [
        Data(stream=StreamId(2**64), data=b""),
        Ping(nonce="x" * 0 + "\ud800"),  # type: ignore[arg-type]
        Data(stream=StreamId(1), data=object()),  # type: ignore[arg-type]
        "not a message",
        Envelope(
            session=SessionId(1), message=Envelope(session=SessionId(2), message=Ping(nonce=1))
        ),  # type: ignore[arg-type]
    ],
)
def test_encode_errors_are_encode_error(bad: object) -> None:
    with pytest.raises(EncodeError):
        encode(bad)  # type: ignore[arg-type]
    assert encode(Ping(nonce=1)) == b"\x92\xa4ping\x01"  # the packer recovered
