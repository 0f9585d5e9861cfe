"""The bridge's host end (`bridge.sock`): the jail's only way out. Each name lookup, TCP
connection and UDP flow of the jail goes through the pod (the session's `Connect` and
`GetAddrInfoRequest`) or is made here, on the developer's machine, as the rules say
(decisions in core/outgoing_filter.py).

The jail has no route out but Unix sockets, so a "local" connection is made by this
process (outside the jail, in the developer's network namespace) and relayed."""

from __future__ import annotations

import asyncio
import dataclasses
import socket
from asyncio import StreamReader as Reader
from asyncio import StreamWriter as Writer
from collections.abc import Iterable

from podtap.client.bridge import (
    Connect,
    Opened,
    Refused,
    Resolve,
    Resolved,
    UdpFlow,
    datagram,
    encode,
    read_datagram,
    receive,
)
from podtap.client.host.channel import ClientChannel
from podtap.core.ids import Port, StreamId
from podtap.core.outgoing_filter import Lookup, NetworkRules, Protocol, ResolvedNames, Route
from podtap.core.protocol import (
    GetAddrInfoRequest,
    GetAddrInfoResponse,
    IpFamily,
    StreamClose,
    TransportProtocol,
    UdpDatagram,
)
from podtap.net.relay import relay
from podtap.net.streams import TcpStream

CONNECT_TIMEOUT = 30.0
LOCALLY = "from this machine"


class Outbound:
    def __init__(
        self, channel: ClientChannel, rules: NetworkRules, *, search: Iterable[str] = ()
    ) -> None:
        self.channel = channel
        self.outgoing = rules.outgoing
        self.dns = dataclasses.replace(rules.dns, search=tuple(search))
        self.names = ResolvedNames(search=self.dns.search)

    async def handle(self, reader: Reader, writer: Writer) -> None:
        """One connection of the jail to the bridge: its request, answered."""
        match await receive(reader):
            case Resolve(name=name, family=family):
                found = await self.resolve(name, family)
                writer.write(encode(Resolved(addresses=tuple(found))))
                writer.close()
            case Connect(host=host, port=port) if self.route("tcp", host, port) is Route.LOCAL:
                await self._connect_here(reader, writer, host, port)
            case Connect(host=host, port=port):
                await self._connect_in_pod(reader, writer, host, port)
            case UdpFlow(host=host, port=port) if self.route("udp", host, port) is Route.LOCAL:
                await self._udp_here(reader, writer, host, port)
            case UdpFlow(host=host, port=port):
                await self._udp_in_pod(reader, writer, host, port)
            case _:
                writer.close()

    # ------------------------------------------------------------------ names
    async def resolve(self, name: str, kind: str) -> list[str]:
        """Addresses of `name` (record `kind` A or AAAA), from the resolver the rules pick."""
        decision = self.dns.lookup(name)
        if decision is Lookup.NOT_FOUND:
            return []
        if decision is Lookup.LOCAL:
            found = await self._resolve_here(name, kind)
        else:
            found = await self._resolve_in_pod(name, kind)
        self.names.record(name, found)
        return found

    async def _resolve_in_pod(self, name: str, kind: str) -> list[str]:
        family = IpFamily.IPV6 if kind == "AAAA" else IpFamily.IPV4
        fqdn = name + "."  # already expanded by the app's resolver
        reply = await self.channel.request(
            lambda rid: GetAddrInfoRequest(request=rid, host=fqdn, port=Port(0), family=family)
        )
        assert isinstance(reply, GetAddrInfoResponse)
        return [a for f, a in reply.addresses if f == family]

    async def _resolve_here(self, name: str, kind: str) -> list[str]:
        family = socket.AF_INET6 if kind == "AAAA" else socket.AF_INET
        try:
            infos = await asyncio.get_running_loop().getaddrinfo(
                name, None, family=family, type=socket.SOCK_STREAM
            )
        except (socket.gaierror, UnicodeError):
            return []
        return list(dict.fromkeys(str(info[4][0]) for info in infos))

    # ------------------------------------------------------------------ connections
    def route(self, protocol: Protocol, host: str, port: int) -> Route:
        return self.outgoing.route(
            protocol=protocol, address=host, port=port, names=self.names.names_of(host)
        )

    async def _connect_in_pod(self, reader: Reader, writer: Writer, host: str, port: int) -> None:
        """A TCP connection of the app made from the pod, relayed to the jail."""
        made: list[TcpStream] = []

        def endpoint(stream: StreamId) -> TcpStream:
            writer.write(encode(Opened()))  # before any byte of the stream can follow
            made.append(TcpStream(self.channel, stream, reader, writer))
            return made[0]

        result = await self.channel.connect(host, port, endpoint=endpoint)
        if not result.ok:
            writer.write(encode(Refused(error=str(result.error))))
            writer.close()
            return
        made[0].start()
        await made[0].done.wait()

    async def _connect_here(self, reader: Reader, writer: Writer, host: str, port: int) -> None:
        """A TCP connection of the app made from this machine, relayed to the jail."""
        try:
            up_reader, up_writer = await asyncio.wait_for(
                asyncio.open_connection(host, port), CONNECT_TIMEOUT
            )
        except (OSError, TimeoutError) as exc:
            error = getattr(exc, "strerror", None) or str(exc) or "timed out"
            writer.write(encode(Refused(error=error, where=LOCALLY)))
            writer.close()
            return
        writer.write(encode(Opened()))
        await relay(reader, writer, up_reader, up_writer)

    # ------------------------------------------------------------------ UDP flows
    async def _udp_in_pod(self, reader: Reader, writer: Writer, host: str, port: int) -> None:
        """A UDP flow of the app sent from the pod; replies framed back to the jail."""
        channel = self.channel
        result = await channel.connect(
            host, port, endpoint=lambda _: _UdpToJail(writer), protocol=TransportProtocol.UDP
        )
        if not result.ok:
            writer.write(encode(Refused(error=str(result.error))))
            writer.close()
            return
        writer.write(encode(Opened()))
        try:
            while True:
                data = await read_datagram(reader)
                if channel.writable(result.stream):  # UDP: drop rather than queue
                    await channel.send_stream(
                        UdpDatagram(stream=result.stream, data=data, addr=host, port=Port(port))
                    )
        except (asyncio.IncompleteReadError, ConnectionError):
            pass
        finally:
            await channel.send_stream(StreamClose(stream=result.stream))
            channel.forget_stream(result.stream)

    async def _udp_here(self, reader: Reader, writer: Writer, host: str, port: int) -> None:
        """A UDP flow of the app sent from this machine; replies framed back to the jail."""
        loop = asyncio.get_running_loop()
        try:
            transport, _ = await loop.create_datagram_endpoint(
                lambda: _Replies(writer), remote_addr=(host, port)
            )
        except OSError as exc:
            writer.write(encode(Refused(error=str(exc.strerror), where=LOCALLY)))
            writer.close()
            return
        writer.write(encode(Opened()))
        try:
            while True:
                transport.sendto(await read_datagram(reader))
        except (asyncio.IncompleteReadError, ConnectionError):
            pass
        finally:
            transport.close()
            writer.close()


class _UdpToJail:
    """Datagrams from the pod, framed onto the jail's flow connection."""

    def __init__(self, writer: Writer) -> None:
        self.writer = writer

    async def on_data(self, data: bytes) -> None:
        self.writer.write(datagram(data))

    async def on_close(self, error: str | None) -> None:
        self.writer.close()


class _Replies(asyncio.DatagramProtocol):
    """Datagrams from this machine's peer, framed onto the jail's flow connection."""

    def __init__(self, writer: Writer) -> None:
        self.writer = writer

    def datagram_received(self, data: bytes, addr: tuple[str | object, int]) -> None:
        if not self.writer.is_closing():
            self.writer.write(datagram(data))

    def error_received(self, exc: Exception) -> None:  # ICMP unreachable: as UDP, ignored
        pass
