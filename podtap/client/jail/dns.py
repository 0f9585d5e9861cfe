"""Inside the jail: name resolution. A DNS stub on 127.0.0.53 answers A and AAAA through
the bridge (which picks the pod's resolver or this machine's) and caches answers for a few
seconds; the name-service files are mounted over the host's and the sockets of caching
daemons (nscd, systemd-resolved's varlink) are masked, so libc cannot bypass the stub."""

from __future__ import annotations

import asyncio
import sys
import time
from pathlib import Path

from dnslib import AAAA, QTYPE, RCODE, RR, A, DNSRecord

from podtap.client.bridge import Resolve, Resolved, ask
from podtap.core.jailconf import NAME_SERVICE_SOCKETS
from podtap.core.outgoing_filter import DnsCache
from podtap.net.mounts import ensure_mountpoint, mount
from podtap.net.tasks import TaskSet

STUB = "127.0.0.53"
TTL = 5


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
        _, writer, answer = await ask(self.bridge, Resolve(name=name, family=kind))
        writer.close()
        found = answer.addresses if isinstance(answer, Resolved) else ()
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
