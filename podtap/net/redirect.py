"""Redirecting new TCP connections for chosen ports of this network namespace to us.

The rules live in a table of our own, created with `flags owner` by a holder child
(`nft_holder`): if we die, even by SIGKILL, the kernel removes the table and the pod's
traffic reaches its app again. Only connection starts (SYN) are redirected, so
connections that were open before keep going to the app. Removing a port unhooks only
its rules; the NAT chains stay until `close()`, because deleting the last NAT rule turns
conntrack off and resets redirected connections still in flight."""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import json
import sys

from podtap.net.process import CommandFailed, die_with_parent

SYN_ONLY = "tcp flags & (syn | ack | rst | fin) == syn"


class NftHolder:
    """Client of the `nft_holder` child that owns our table."""

    def __init__(self) -> None:
        self._proc: asyncio.subprocess.Process | None = None
        self._ids = itertools.count(1)
        self._lock = asyncio.Lock()

    async def start(self) -> None:
        self._proc = await asyncio.create_subprocess_exec(
            sys.executable,
            "-m",
            "podtap.net.nft_holder",
            stdin=asyncio.subprocess.PIPE,
            stdout=asyncio.subprocess.PIPE,
            preexec_fn=die_with_parent,
        )

    async def run(self, script: str) -> None:
        proc = self._proc
        assert proc is not None and proc.stdin is not None and proc.stdout is not None
        async with self._lock:
            request_id = next(self._ids)
            proc.stdin.write(json.dumps({"id": request_id, "script": script}).encode() + b"\n")
            await proc.stdin.drain()
            line = await proc.stdout.readline()
        if not line:
            raise CommandFailed(["nft_holder"], -1, "the nftables holder process is gone")
        reply = json.loads(line)
        if not reply["ok"]:
            raise CommandFailed(["nft", script], 1, reply["error"])

    async def close(self) -> None:
        """End the holder: the kernel drops the table it owns."""
        proc, self._proc = self._proc, None
        if proc is None:
            return
        if proc.stdin is not None:
            proc.stdin.close()
        try:
            await asyncio.wait_for(proc.wait(), 5)
        except TimeoutError:
            with contextlib.suppress(ProcessLookupError):
                proc.kill()
            await proc.wait()


class Redirector:
    """SYN-only REDIRECT of subscribed ports to `listen_port`, in an owned table.

    The ports are elements of a set, so the rules (and with them conntrack) stay in place
    from `start()` to `close()`; adding or removing a port is one atomic set update.
    Traffic from outside the pod is caught in prerouting; the pod calling its own port
    (pod-local) in output, except sockets marked with `mark` (the agent's own)."""

    def __init__(self, *, table: str, listen_port: int, mark: int) -> None:
        self.table = table
        self.listen_port = listen_port
        self.mark = mark
        self._holder = NftHolder()
        self.ports: set[int] = set()

    async def start(self) -> None:
        await self._holder.start()
        t, to = f"inet {self.table}", f"redirect to :{self.listen_port}"
        await self._holder.run(
            f"add table {t} {{ flags owner; }}\n"
            f"add set {t} ports {{ type inet_service; }}\n"
            f"add chain {t} prerouting {{ type nat hook prerouting priority dstnat; }}\n"
            f"add chain {t} output {{ type nat hook output priority -100; }}\n"
            f"add rule {t} prerouting tcp dport @ports {SYN_ONLY} {to}\n"
            f"add rule {t} output meta mark != {self.mark} fib daddr type local "
            f"tcp dport @ports {SYN_ONLY} {to}\n"
        )

    async def add_port(self, port: int) -> None:
        if port not in self.ports:
            await self._holder.run(f"add element inet {self.table} ports {{ {port} }}\n")
            self.ports.add(port)

    async def remove_port(self, port: int) -> None:
        """Unhook `port`: new connections go straight to the app; open ones are untouched."""
        if port in self.ports:
            self.ports.discard(port)
            await self._holder.run(f"delete element inet {self.table} ports {{ {port} }}\n")

    async def close(self) -> None:
        """Drop the table (the holder ends; the kernel removes what it owned)."""
        self.ports.clear()
        await self._holder.close()
