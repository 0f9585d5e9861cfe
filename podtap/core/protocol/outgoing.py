"""Outgoing family: connections the local app opens, made from inside the pod."""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

from podtap.core.ids import Port, StreamId
from podtap.core.protocol.enums import TransportProtocol


@dataclass(frozen=True, slots=True, kw_only=True)
class Connect:
    """Open ``stream`` to ``host:port`` from the pod (TCP connection or UDP flow)."""

    TAG: ClassVar[str] = "connect"
    stream: StreamId
    protocol: TransportProtocol
    host: str
    port: Port


@dataclass(frozen=True, slots=True, kw_only=True)
class ConnectResult:
    """Outcome of ``Connect``; on success the pod-side local address of the socket."""

    TAG: ClassVar[str] = "connect_result"
    stream: StreamId
    ok: bool
    local_addr: str | None = None
    local_port: Port | None = None
    error: str | None = None


@dataclass(frozen=True, slots=True, kw_only=True)
class UdpDatagram:
    """One datagram on a UDP ``stream``, from/to ``addr:port``; counts against the window."""

    TAG: ClassVar[str] = "udp"
    stream: StreamId
    data: bytes
    addr: str
    port: Port
