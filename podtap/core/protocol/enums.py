"""String enums carried on the wire (encoded as their string value)."""

from __future__ import annotations

from enum import StrEnum


class CloseReason(StrEnum):
    """Why a session (or connection) ends. Unknown values decode as ``OTHER``."""

    CLIENT_EXITED = "ClientExited"
    KILLED = "Killed"
    SETUP_DEADLINE_EXCEEDED = "SetupDeadlineExceeded"
    UNUSED = "Unused"
    TIME_LIMIT_EXCEEDED = "TimeLimitExceeded"
    POLICY_CHANGED = "PolicyChanged"
    TARGET_GONE = "TargetGone"
    STATE_LOST = "StateLost"
    PROTOCOL_ERROR = "ProtocolError"
    AGENT_FAILED = "AgentFailed"
    OTHER = "Other"

    @classmethod
    def _missing_(cls, value: object) -> CloseReason:
        return cls.OTHER


class ErrorCode(StrEnum):
    """Machine-readable code of an ``ErrorFrame``. Unknown values decode as ``OTHER``."""

    MALFORMED_FRAME = "malformed_frame"
    UNKNOWN_MESSAGE_TYPE = "unknown_message_type"
    UNEXPECTED_MESSAGE = "unexpected_message"
    HANDSHAKE_FAILED = "handshake_failed"
    FLOW_CONTROL = "flow_control"
    UNKNOWN_STREAM = "unknown_stream"
    FORBIDDEN = "forbidden"
    NOT_FOUND = "not_found"
    UNSUPPORTED = "unsupported"
    INTERNAL = "internal"
    OTHER = "other"

    @classmethod
    def _missing_(cls, value: object) -> ErrorCode:
        return cls.OTHER


class LogLevel(StrEnum):
    """Severity of a ``Log`` message shown to the user."""

    INFO = "info"
    WARNING = "warning"
    ERROR = "error"


class IncomingMode(StrEnum):
    """How a port subscription receives traffic."""

    MIRROR = "mirror"
    STEAL = "steal"


class TransportProtocol(StrEnum):
    """Transport of an outgoing connection."""

    TCP = "tcp"
    UDP = "udp"


class IpFamily(StrEnum):
    """Address family for name resolution (``ANY`` only in requests)."""

    ANY = "any"
    IPV4 = "ipv4"
    IPV6 = "ipv6"
