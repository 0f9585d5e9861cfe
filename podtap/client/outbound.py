"""The bridge's outgoing side: each name lookup, TCP connection and UDP flow of the jail
goes through the pod or is made here, on the developer's machine, as the rules say.

The jail has no route out but Unix sockets, so a "local" connection is made by this
process (outside the jail, in the developer's network namespace) and relayed."""

from __future__ import annotations

import asyncio
import dataclasses
import json
import socket
import struct
from collections.abc import Iterable

from podtap.client.channel import ClientChannel
from podtap.core.ids import Port
from podtap.core.outgoing_filter import Lookup, NetworkRules, Protocol, ResolvedNames, Route
from podtap.core.protocol import GetAddrInfoRequest, GetAddrInfoResponse, IpFamily
from podtap.net.relay import relay

CONNECT_TIMEOUT = 30.0
LOCALLY = "from this machine"


def _line(answer: dict[str, object]) -> bytes:
    return json.dumps(answer).encode() + b"\n"


class Outbound:
    def __init__(
        self, channel: ClientChannel, rules: NetworkRules, *, search: Iterable[str] = ()
    ) -> None:
        self.channel = channel
        self.outgoing = rules.outgoing
        self.dns = dataclasses.replace(rules.dns, search=tuple(search))
        self.names = ResolvedNames(search=self.dns.search)

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
            lambda rid: GetAddrInfoRequest(rid, fqdn, Port(0), family)
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

    async def connect_here(
        self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter, host: str, port: int
    ) -> None:
        """A TCP connection of the app made from this machine, relayed to the jail."""
        try:
            up_reader, up_writer = await asyncio.wait_for(
                asyncio.open_connection(host, port), CONNECT_TIMEOUT
            )
        except (OSError, TimeoutError) as exc:
            error = getattr(exc, "strerror", None) or str(exc) or "timed out"
            writer.write(_line({"ok": False, "error": error, "where": LOCALLY}))
            writer.close()
            return
        writer.write(_line({"ok": True}))
        await relay(reader, writer, up_reader, up_writer)

    async def udp_here(
        self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter, host: str, port: int
    ) -> None:
        """A UDP flow of the app sent from this machine; replies framed back to the jail."""
        loop = asyncio.get_running_loop()
        try:
            transport, _ = await loop.create_datagram_endpoint(
                lambda: _Replies(writer), remote_addr=(host, port)
            )
        except OSError as exc:
            writer.write(_line({"ok": False, "error": exc.strerror, "where": LOCALLY}))
            writer.close()
            return
        writer.write(_line({"ok": True}))
        try:
            while True:
                size = struct.unpack("!H", await reader.readexactly(2))[0]
                transport.sendto(await reader.readexactly(size))
        except (asyncio.IncompleteReadError, ConnectionError):
            pass
        finally:
            transport.close()
            writer.close()


class _Replies(asyncio.DatagramProtocol):
    def __init__(self, writer: asyncio.StreamWriter) -> None:
        self.writer = writer

    def datagram_received(self, data: bytes, addr: tuple[str | object, int]) -> None:
        if not self.writer.is_closing():
            self.writer.write(struct.pack("!H", len(data)) + data)

    def error_received(self, exc: Exception) -> None:  # ICMP unreachable: as UDP, ignored
        pass
