"""Connections a session opens from inside the pod (its app's outgoing TCP and UDP).

The name is resolved as the pod would resolve it (its /etc/hosts and resolv.conf, not this
machine's), and the socket is marked so our own redirect lets it through. Each connection
is one stream of the session's channel, with the channel's flow control."""

from __future__ import annotations

import asyncio
import ipaddress
import socket

from podtap.agent.app_side import connect_marked
from podtap.agent.podview import PodResolver
from podtap.core.ids import Port, RequestId, StreamId
from podtap.core.protocol import (
    Connect,
    ConnectResult,
    GetAddrInfoRequest,
    TransportProtocol,
    UdpDatagram,
)
from podtap.net.streams import FlowChannel, TcpStream
from podtap.net.tasks import TaskSet


async def open_outgoing(channel: FlowChannel, req: Connect, *, resolver: PodResolver) -> None:
    """Connect as ``req`` asks and answer it with a ConnectResult: every Connect is
    answered, whatever went wrong."""
    kind = socket.SOCK_STREAM if req.protocol == TransportProtocol.TCP else socket.SOCK_DGRAM
    try:
        host = req.host
        if not _is_ip(host):  # resolve as the pod would, not as this machine does
            found = await resolver.getaddrinfo(GetAddrInfoRequest(request=RequestId(0), host=host))
            if not found.addresses:
                raise OSError(found.error or f"{host}: name not known")
            host = found.addresses[0][1]
        sock = await connect_marked(host, req.port, kind=kind)
    except Exception as exc:  # every Connect is answered, whatever went wrong
        await channel.send(
            ConnectResult(stream=req.stream, ok=False, error=str(exc) or type(exc).__name__)
        )
        return
    local = sock.getsockname()
    if req.protocol == TransportProtocol.TCP:
        reader, writer = await asyncio.open_connection(sock=sock)
        stream = TcpStream(channel, req.stream, reader, writer)
        channel.open_stream(req.stream, stream)
        await channel.send(
            ConnectResult(
                stream=req.stream, ok=True, local_addr=local[0], local_port=Port(local[1])
            )
        )
        stream.start()
    else:
        loop = asyncio.get_running_loop()
        _transport, flow = await loop.create_datagram_endpoint(
            lambda: UdpFlow(channel, stream=req.stream), sock=sock
        )
        channel.open_stream(req.stream, flow)
        await channel.send(
            ConnectResult(
                stream=req.stream, ok=True, local_addr=local[0], local_port=Port(local[1])
            )
        )


def _is_ip(host: str) -> bool:
    try:
        ipaddress.ip_address(host)
    except ValueError:
        return False
    return True


class UdpFlow(asyncio.DatagramProtocol):
    """A connected UDP socket in the pod, carried on one stream."""

    def __init__(self, channel: FlowChannel, *, stream: StreamId) -> None:
        self.session = channel
        self.stream = stream
        self.transport: asyncio.DatagramTransport | None = None
        self._tasks = TaskSet()

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]

    def datagram_received(self, data: bytes, addr: tuple[str | object, int]) -> None:
        host, port = str(addr[0]), int(addr[1])
        if self.session.writable(self.stream):  # UDP: drop rather than queue
            self._tasks.spawn(
                self.session.send_stream(
                    UdpDatagram(stream=self.stream, data=data, addr=host, port=Port(port))
                ),
                name=f"udp {self.stream}",
            )

    def send_datagram(self, message: UdpDatagram) -> None:
        if self.transport is not None:
            self.transport.sendto(message.data)
            self._tasks.spawn(
                self.session.consumed(self.stream, len(message.data)),
                name=f"udp {self.stream} credit",
            )

    async def on_data(self, data: bytes) -> None:
        return None

    async def on_close(self, error: str | None) -> None:
        if self.transport is not None:
            self.transport.close()
        await self._tasks.close()
