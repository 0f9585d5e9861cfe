"""Cluster DNS for pods: answers service and pod names from the node's records."""

from __future__ import annotations

import asyncio
import logging
from typing import cast

from dnslib import QTYPE, RCODE, RR, A, DNSRecord

log = logging.getLogger(__name__)
TTL = 5


class ClusterDns(asyncio.DatagramProtocol):
    def __init__(self) -> None:
        self.records: dict[str, list[str]] = {}
        self._transport: asyncio.DatagramTransport | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self._transport = cast(asyncio.DatagramTransport, transport)

    def answer(self, query: bytes) -> bytes:
        request = DNSRecord.parse(query)
        reply = request.reply()
        for q in request.questions:
            name = str(q.qname).rstrip(".").lower()
            addrs = self.records.get(name)
            if addrs is None:
                reply.header.rcode = RCODE.NXDOMAIN
                continue
            if q.qtype in (QTYPE.A, QTYPE.ANY):
                for ip in addrs:
                    reply.add_answer(RR(q.qname, QTYPE.A, rdata=A(ip), ttl=TTL))
            # AAAA and other types: the name exists, no records (NOERROR, empty).
        return bytes(reply.pack())

    def datagram_received(self, data: bytes, addr: tuple[str | object, int]) -> None:
        try:
            out = self.answer(data)
        except Exception:  # a garbled query must never stop the server
            log.debug("bad DNS query from %s", addr, exc_info=True)
            return
        if self._transport is not None:
            self._transport.sendto(out, addr)


async def serve_dns(host: str, port: int = 53) -> tuple[asyncio.DatagramTransport, ClusterDns]:
    loop = asyncio.get_running_loop()
    transport, proto = await loop.create_datagram_endpoint(ClusterDns, local_addr=(host, port))
    return transport, proto
