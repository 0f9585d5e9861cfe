"""The closed set of message types, grouped as unions, and the operator⇄agent envelope."""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar, Final, TypeAlias, get_args

from podtap.core.ids import SessionId
from podtap.core.protocol.dns import GetAddrInfoRequest, GetAddrInfoResponse
from podtap.core.protocol.env import EnvRequest, EnvResponse
from podtap.core.protocol.files import (
    FileClose,
    FileOpen,
    FileOpenResult,
    FileRead,
    FileReadDir,
    FileReadDirResult,
    FileReadResult,
    FileStat,
    FileStatResult,
)
from podtap.core.protocol.incoming import (
    BodyChunk,
    BodyEnd,
    HttpRequestHead,
    HttpResponseHead,
    MirrorDropped,
    NewConnection,
    Subscribe,
    SubscribeResult,
    Unsubscribe,
)
from podtap.core.protocol.outgoing import Connect, ConnectResult, UdpDatagram
from podtap.core.protocol.session import Close, ErrorFrame, Hello, HelloAck, Log, Ping, Pong
from podtap.core.protocol.streams import Data, StreamClose, WindowUpdate

SessionMessage: TypeAlias = Hello | HelloAck | Ping | Pong | Close | Log | ErrorFrame
IncomingMessage: TypeAlias = (
    Subscribe
    | SubscribeResult
    | Unsubscribe
    | NewConnection
    | HttpRequestHead
    | HttpResponseHead
    | BodyChunk
    | BodyEnd
    | MirrorDropped
)
StreamFrame: TypeAlias = Data | StreamClose | WindowUpdate
OutgoingMessage: TypeAlias = Connect | ConnectResult | UdpDatagram
DnsMessage: TypeAlias = GetAddrInfoRequest | GetAddrInfoResponse
FilesMessage: TypeAlias = (
    FileOpen
    | FileOpenResult
    | FileRead
    | FileReadResult
    | FileStat
    | FileStatResult
    | FileReadDir
    | FileReadDirResult
    | FileClose
)
EnvMessage: TypeAlias = EnvRequest | EnvResponse

Payload: TypeAlias = (
    SessionMessage
    | IncomingMessage
    | StreamFrame
    | OutgoingMessage
    | DnsMessage
    | FilesMessage
    | EnvMessage
)
"""Any message except an ``Envelope``."""

StreamMessage: TypeAlias = (
    NewConnection
    | Connect
    | ConnectResult
    | HttpRequestHead
    | HttpResponseHead
    | BodyChunk
    | BodyEnd
    | Data
    | UdpDatagram
    | StreamClose
)
"""Messages that belong to one stream and must stay in order on it (not ``WindowUpdate``)."""

FlowControlled: TypeAlias = Data | BodyChunk | UdpDatagram
"""Messages whose ``data`` counts against the stream's flow-control window."""


@dataclass(frozen=True, slots=True, kw_only=True)
class Envelope:
    """Operator⇄agent framing: ``message`` belongs to ``session``.

    One agent connection serves many sessions; frames about the connection itself (the
    handshake, ping/pong) travel bare, everything for a session inside an envelope.
    """

    TAG: ClassVar[str] = "envelope"
    session: SessionId
    message: Payload


Message: TypeAlias = Payload | Envelope
"""Anything :func:`podtap.core.protocol.codec.decode` can return."""

PAYLOAD_TYPES: Final[tuple[type[Payload], ...]] = get_args(Payload)
MESSAGE_TYPES: Final[tuple[type[Message], ...]] = (*PAYLOAD_TYPES, Envelope)
FLOW_CONTROLLED_TYPES: Final = (Data, BodyChunk, UdpDatagram)


def flow_size(message: Message) -> int:
    """Bytes ``message`` counts against its stream's window (0 for non-data messages)."""
    if isinstance(message, Data | BodyChunk | UdpDatagram):
        return len(message.data)
    return 0
