"""msgpack codec: one WebSocket binary message = one frame = ``[tag, field, ...]``.

``decode`` raises only :class:`~podtap.core.protocol.errors.ProtocolError` subclasses:
:class:`UnknownMessageType` (answer it with ``exc.error_frame()``) or
:class:`MalformedFrame`.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import Any, Final

import msgpack

from podtap.core.protocol.errors import (
    EncodeError,
    MalformedFrame,
    MalformedPayload,
    ProtocolError,
    UnknownMessageType,
)
from podtap.core.protocol.incoming import BodyChunk
from podtap.core.protocol.messages import MESSAGE_TYPES, PAYLOAD_TYPES, Envelope, Message
from podtap.core.protocol.schema import struct_decoder, struct_encoder
from podtap.core.protocol.streams import Data
from podtap.core.protocol.wire_types import kind

MAX_FRAME_SIZE: Final = 16 * 1024 * 1024
"""Default upper bound on the size of one encoded frame accepted by :func:`decode`."""

MAX_TAG_LENGTH: Final = 64

TAGS: Final[dict[str, type[Message]]] = {cls.TAG: cls for cls in MESSAGE_TYPES}
if len(TAGS) != len(MESSAGE_TYPES):  # pragma: no cover - guards against copy-paste tags
    raise RuntimeError("duplicate message type tags")

_ToWire = Callable[[Any], Any]
_FromWire = Callable[[Any, int], Any]

_PAYLOAD_ENCODERS: Final[dict[type, _ToWire]] = {
    cls: struct_encoder(cls, tag=cls.TAG) for cls in PAYLOAD_TYPES
}
_DECODERS: Final[dict[str, _FromWire]] = {
    cls.TAG: struct_decoder(cls, start=1) for cls in PAYLOAD_TYPES
}
_ENVELOPE_TAG: Final = Envelope.TAG


def _encode_envelope(env: Envelope) -> Any:
    inner = env.message
    convert = _PAYLOAD_ENCODERS.get(type(inner))
    if convert is None:
        raise EncodeError(f"an Envelope cannot carry {type(inner).__name__}")
    return (_ENVELOPE_TAG, env.session, convert(inner))


_ENCODERS: Final[dict[type, _ToWire]] = {**_PAYLOAD_ENCODERS, Envelope: _encode_envelope}


def to_wire(message: Message) -> Any:
    """The msgpack-ready tuple for ``message`` (what :func:`encode` packs)."""
    convert = _ENCODERS.get(type(message))
    if convert is None:
        raise EncodeError(f"not a protocol message: {type(message).__name__}")
    return convert(message)


class _Local(threading.local):
    def __init__(self) -> None:
        # A Packer reused per thread is about twice as fast as msgpack.packb.
        self.packer = msgpack.Packer(unicode_errors="surrogateescape")


_local: Final = _Local()


def encode(message: Message) -> bytes:
    """Encode one message as one frame. Raises :class:`EncodeError` for invalid content."""
    packer = _local.packer
    try:
        return packer.pack(to_wire(message))
    except ProtocolError:
        raise
    except Exception as exc:
        packer.reset()  # a failed pack may leave partial output in the buffer
        raise EncodeError(f"cannot encode {type(message).__name__}: {exc}") from None


def _fast_data(raw: Any, depth: int) -> Any:
    if len(raw) >= 3:
        stream, data = raw[1], raw[2]
        if type(stream) is int and stream >= 0 and type(data) is bytes:
            return Data(stream=stream, data=data)  # type: ignore[arg-type]
    return _data(raw, depth)


def _fast_body(raw: Any, depth: int) -> Any:
    if len(raw) >= 4:
        stream, request, data = raw[1], raw[2], raw[3]
        if (
            type(stream) is int
            and stream >= 0
            and type(request) is int
            and request >= 0
            and type(data) is bytes
        ):
            return BodyChunk(stream=stream, request=request, data=data)  # type: ignore[arg-type]
    return _body(raw, depth)


_data: Final = _DECODERS[Data.TAG]
_body: Final = _DECODERS[BodyChunk.TAG]
_DECODERS[Data.TAG] = _fast_data
_DECODERS[BodyChunk.TAG] = _fast_body


def _payload(raw: Any, depth: int) -> Any:
    if type(raw) is not tuple or not raw:
        raise MalformedFrame(f"a frame is a non-empty array [type, ...], got {kind(raw)}")
    tag = raw[0]
    if type(tag) is not str:
        raise MalformedFrame(f"frame type tag must be a str, got {kind(tag)}")
    from_wire = _DECODERS.get(tag)
    if from_wire is not None:
        return from_wire(raw, depth)
    if len(tag) > MAX_TAG_LENGTH:
        raise MalformedFrame(f"frame type tag too long ({len(tag)} characters)")
    if tag == _ENVELOPE_TAG:
        raise MalformedFrame("an envelope cannot be nested in an envelope")
    raise UnknownMessageType(tag)


def _envelope(raw: Any) -> Envelope:
    if len(raw) < 3:
        raise MalformedFrame("envelope: expected [tag, session, message]")
    session = raw[1]
    if type(session) is not int or session < 0:
        raise MalformedFrame(f"envelope.session: expected unsigned int, got {kind(session)}")
    try:
        inner = _payload(raw[2], 1)
    except UnknownMessageType:
        raise
    except MalformedFrame as exc:
        raise MalformedPayload(f"envelope.message: {exc.message}", session=session) from None
    except Exception as exc:  # defensive, as in from_wire, but the session is known here
        text = f"envelope.message: invalid frame: {type(exc).__name__}: {exc}"[:200]
        raise MalformedPayload(text, session=session) from None
    return Envelope(session=session, message=inner)  # type: ignore[arg-type]


def from_wire(raw: Any) -> Message:
    """Build a message from an already unpacked frame (arrays as tuples).

    Raises only ProtocolError subclasses.
    """
    try:
        if type(raw) is tuple and raw and raw[0] == _ENVELOPE_TAG:
            return _envelope(raw)
        result: Message = _payload(raw, 0)
        return result
    except ProtocolError:
        raise
    except Exception as exc:  # defensive: converters should only raise MalformedFrame
        raise MalformedFrame(f"invalid frame: {type(exc).__name__}: {exc}"[:200]) from None


def decode(data: bytes | bytearray | memoryview, *, max_size: int = MAX_FRAME_SIZE) -> Message:
    """Decode one frame. Raises only ProtocolError subclasses, whatever ``data`` holds."""
    try:
        if len(data) > max_size:
            raise MalformedFrame(f"frame of {len(data)} bytes exceeds the {max_size} limit")
        raw = msgpack.unpackb(
            data,
            use_list=False,
            raw=False,
            strict_map_key=True,
            unicode_errors="surrogateescape",
        )
    except ProtocolError:
        raise
    except Exception as exc:
        raise MalformedFrame(f"not a msgpack frame: {type(exc).__name__}: {exc}"[:200]) from None
    if type(raw) is tuple and raw:
        # Fast path for the common case; anything unusual goes through from_wire.
        tag = raw[0]
        if type(tag) is str and tag in _DECODERS:
            try:
                result: Message = _DECODERS[tag](raw, 0)
                return result
            except ProtocolError:
                raise
            except Exception:
                pass
    return from_wire(raw)


__all__ = ["MAX_FRAME_SIZE", "TAGS", "decode", "encode", "from_wire", "to_wire"]
