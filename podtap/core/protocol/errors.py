"""Exceptions for protocol violations. Everything the codec, the handshake and flow
control raise about the peer's behaviour is a :class:`ProtocolError`."""

from __future__ import annotations

from typing import ClassVar

from podtap.core.protocol.enums import CloseReason, ErrorCode
from podtap.core.protocol.session import Close, ErrorFrame


class ProtocolError(Exception):
    """The peer (or a frame) broke the protocol.

    ``error_frame()`` builds the ``ErrorFrame`` to answer with, ``close_frame()`` the
    ``Close`` to end the connection with.
    """

    code: ClassVar[ErrorCode] = ErrorCode.OTHER

    def __init__(self, message: str, *, in_reply_to: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.in_reply_to = in_reply_to

    def error_frame(self) -> ErrorFrame:
        return ErrorFrame(code=self.code, message=self.message, in_reply_to=self.in_reply_to)

    def close_frame(self) -> Close:
        return Close(reason=CloseReason.PROTOCOL_ERROR, message=self.message)


class MalformedFrame(ProtocolError):
    """Bytes that are not a valid frame: bad msgpack, wrong shape, wrong field types."""

    code = ErrorCode.MALFORMED_FRAME


class MalformedPayload(MalformedFrame):
    """A well-formed envelope whose message is malformed.

    The envelope names the session, so the fault is that session's alone: the receiver
    can end it and keep serving the others on the same connection.
    """

    def __init__(self, message: str, *, session: int) -> None:
        super().__init__(message)
        self.session = session


class UnknownMessageType(ProtocolError):
    """A well-formed frame whose type tag this side does not know (a newer peer?)."""

    code = ErrorCode.UNKNOWN_MESSAGE_TYPE

    def __init__(self, tag: str) -> None:
        super().__init__(f"unknown message type {tag!r}", in_reply_to=tag)
        self.tag = tag


class EncodeError(ProtocolError):
    """A message object that cannot be encoded (wrong field types, out-of-range ints)."""

    code = ErrorCode.INTERNAL


class UnexpectedMessage(ProtocolError):
    """A valid message that is not allowed in the current state (e.g. data before hello)."""

    code = ErrorCode.UNEXPECTED_MESSAGE


class HandshakeError(ProtocolError):
    """Version/feature negotiation failed.

    ``message`` is written for this side's user; ``peer_message`` for the peer's user and
    is what :meth:`close_frame` sends.
    """

    code = ErrorCode.HANDSHAKE_FAILED

    def __init__(self, message: str, *, peer_message: str | None = None) -> None:
        super().__init__(message, in_reply_to=None)
        self.peer_message = message if peer_message is None else peer_message

    def close_frame(self) -> Close:
        return Close(reason=CloseReason.PROTOCOL_ERROR, message=self.peer_message)


class VersionMismatch(HandshakeError):
    """The two sides share no protocol version."""


class MissingFeatures(HandshakeError):
    """A feature one side requires is not offered by the other."""

    def __init__(
        self, message: str, *, missing: frozenset[str], peer_message: str | None = None
    ) -> None:
        super().__init__(message, peer_message=peer_message)
        self.missing = missing


class HandshakeRejected(HandshakeError):
    """The peer closed the connection instead of completing the handshake."""

    def __init__(self, message: str, *, reason: CloseReason) -> None:
        super().__init__(message)
        self.reason = reason


class FlowControlError(ProtocolError):
    """The peer sent more than its credit allows, or granted impossible credit."""

    code = ErrorCode.FLOW_CONTROL
