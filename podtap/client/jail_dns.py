"""Inside the jail: name resolution. A DNS stub on 127.0.0.53 answers A and AAAA through
the bridge (which picks the pod's resolver or this machine's) and caches answers for a few
seconds; the name-service files are mounted over the host's and the sockets of caching
daemons (nscd, systemd-resolved's varlink) are masked, so libc cannot bypass the stub."""

from __future__ import annotations

import asyncio
import json
import sys
import time
from pathlib import Path

from dnslib import AAAA, QTYPE, RCODE, RR, A, DNSRecord

from podtap.core.jailconf import NAME_SERVICE_SOCKETS
from podtap.core.outgoing_filter import DnsCache
from podtap.net.mounts import ensure_mountpoint, mount
from podtap.net.tasks import TaskSet

STUB = "127.0.0.53"
TTL = 5


async def ask_bridge(
    path: str, request: dict[str, object]
) -> tuple[asyncio.StreamReader, asyncio.StreamWriter, dict[str, object]]:
    """One request on a new bridge connection: the reader/writer stay open for a stream."""
    reader, writer = await asyncio.open_unix_connection(path)
    writer.write(json.dumps(request).encode() + b"\n")
    answer = json.loads(await reader.readline() or b'{"ok": false, "error": "bridge closed"}')
    return reader, writer, answer


def mount_name_service(files: dict[str, str], *, scratch: Path) -> None:
    """Bind `files` ({"/etc/hosts": local copy, ...}) and mask the caching daemons."""
    for sock in NAME_SERVICE_SOCKETS:
        if Path(sock).exists():
            try:
                mount("--bind", "/dev/null", sock)  # connect() now fails: libc asks DNS
            except Exception as exc:
                print(f"podtap: cannot mask {sock}: {exc}", file=sys.stderr)
    for target, source in files.items():
        ensure_mountpoint(Path(target), is_dir=False, scratch=scratch)
        mount("--bind", source, target)


class Stub(asyncio.DatagramProtocol):
    def __init__(self, bridge: str, *, ttl: float = TTL) -> None:
        self.bridge = bridge
        self.transport: asyncio.DatagramTransport | None = None
        self.cache = DnsCache(ttl=ttl)
        self._tasks = TaskSet()

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]

    def datagram_received(self, data: bytes, addr: tuple[str | object, int]) -> None:
        self._tasks.spawn(self._answer(data, addr), name="dns stub query")

    async def _lookup(self, name: str, kind: str) -> tuple[str, ...]:
        cached = self.cache.get(name, kind, now=time.monotonic())
        if cached is not None:
            return cached
        _, writer, answer = await ask_bridge(
            self.bridge, {"op": "resolve", "name": name, "family": kind}
        )
        writer.close()
        addresses = answer.get("addresses") if answer.get("ok") else None
        found = tuple(str(a) for a in addresses) if isinstance(addresses, list) else ()
        self.cache.put(name, kind, found, now=time.monotonic())
        return found

    async def _answer(self, data: bytes, addr: tuple[str | object, int]) -> None:
        try:
            query = DNSRecord.parse(data)
        except Exception:  # not DNS: nothing to answer
            return
        reply = query.reply()
        for q in query.questions:
            name = str(q.qname).rstrip(".")
            kind = QTYPE[q.qtype]
            if kind not in ("A", "AAAA"):
                continue
            found = await self._lookup(name, kind)
            if not found:
                reply.header.rcode = RCODE.NXDOMAIN
            for ip in found:
                rdata = A(ip) if kind == "A" else AAAA(ip)
                reply.add_answer(RR(q.qname, q.qtype, rdata=rdata, ttl=TTL))
        if self.transport is not None:
            self.transport.sendto(bytes(reply.pack()), addr)

    async def close(self) -> None:
        await self._tasks.close()
