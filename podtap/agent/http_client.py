"""The client's side of a filtered connection: who reads it, turn by turn.

Plain requests no filter matches take the fast path (``fast_relay.py``: the client's and
the app's transports joined, no router, no loop); the router takes over where a request
needs it, and gives the connection back when it is at rest again. This reader owns the
client's read side through both: it runs a fast-path turn itself, and in the router's
turns it only reads and submits what it read as events; the connection's loop decides
(whether bytes may go fast, what the router does with them) and acts."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable
from typing import cast

from podtap.agent.app_side import app_socket
from podtap.agent.fast_relay import FastRelay, Outcome
from podtap.agent.http_events import ClientAbort, ClientBytes, Event, Finish, Leave, UseRouter
from podtap.agent.mirror import TappedReader
from podtap.core.routing import Http1FastPath, RouteTable, is_h2_preface

log = logging.getLogger(__name__)
READ_SIZE = 64 * 1024


class ClientReader:
    def __init__(
        self,
        reader: TappedReader,
        writer: asyncio.StreamWriter,
        *,
        table: RouteTable,
        peer: tuple[str, int],
        local: tuple[str, int],
        stats: dict[str, int],
        submit: Callable[[Event], Awaitable[bool]],
        until_room: Callable[[], Awaitable[None]],
    ) -> None:
        self._reader, self._writer = reader, writer
        self._table = table
        self._peer, self._local = peer, local
        self._stats = stats
        self._submit = submit
        self._until_room = until_room
        self.fast: FastRelay | None = None  # while a fast-path turn has the connection

    async def run(self) -> None:
        """Read the client until the connection ends."""
        try:
            data = await self._sniff()
        except (ConnectionError, OSError):
            data = b""
        fast = bool(data) and await self._offer(data, leave=Leave.AT_START)
        while True:
            if fast:
                backlog = await self._fast_turn(data)
                if backlog is None:
                    await self._submit(Finish())
                    return
                await self._submit(UseRouter(http2=False))
                if backlog:
                    await self._submit(ClientBytes(data=backlog))
            more = await self._router_turn()
            if more is None:
                return
            data, fast = more, True

    async def _sniff(self) -> bytes:
        """Read until the first bytes tell HTTP/2 (prior knowledge, gRPC) from HTTP/1."""
        first = b""
        while (verdict := is_h2_preface(first)) is None:
            chunk = await self._reader.read(READ_SIZE)
            if not chunk:
                break
            first += chunk
        if verdict:
            await self._submit(UseRouter(http2=True))
        return first

    def may_go_fast(self, data: bytes) -> bool:
        """No mirror copies this connection's bytes, and ``data`` emptied the client's
        reader (a full read may have left bytes in it, which the fast path would not see).
        The loop adds what the router must say."""
        return self._reader.untapped is not None and len(data) < READ_SIZE

    @property
    def _transport(self) -> asyncio.Transport:
        return cast(asyncio.Transport, self._writer.transport)  # a TCP transport

    async def _offer(self, data: bytes, *, leave: Leave) -> bool:
        """Submit bytes the fast path may take instead of the router; True if it does.
        While the loop decides, the client is not read: a byte taken into the StreamReader
        behind ``data`` would never reach the fast path, and what it sent next would be
        parsed where that byte belongs (request smuggling)."""
        if not self.may_go_fast(data):
            await self._submit(ClientBytes(data=data))
            return False
        client = self._transport
        client.pause_reading()
        fast = await self._submit(ClientBytes(data=data, leave=leave))
        if not fast and not client.is_closing():
            client.resume_reading()
        return fast

    async def _router_turn(self) -> bytes | None:
        """Read for the router until the connection ends (``None``) or the loop sends the
        bytes just read to the fast path (they are returned). Every read waits until the
        loop handled the one before and the router has room."""
        while True:
            await self._until_room()
            try:
                data = await self._reader.read(READ_SIZE)
            except (ConnectionError, OSError):
                await self._submit(ClientAbort())
                return None
            if data and await self._offer(data, leave=Leave.AFTER_ROUTING):
                return data
            if not data:
                await self._submit(ClientBytes(data=b""))
                return None
            with contextlib.suppress(ConnectionError, OSError):
                await self._writer.drain()

    async def _fast_turn(self, first: bytes) -> bytes | None:
        """Relay plain unmatched requests to the app (``Http1FastPath``) until one needs the
        router; returns the client bytes the router starts with (those it did not reach
        are back in the client's StreamReader), ``None`` when the connection ended here."""
        stream = self._reader.untapped
        assert stream is not None  # may_go_fast() checked it
        client = self._transport
        client.pause_reading()  # until the relay reads it: no byte may stay in `stream`
        try:
            sock = await app_socket(*self._local)
        except (OSError, TimeoutError) as exc:
            log.info("cannot reach the app at %s:%d: %s", *self._local, exc)
            client.resume_reading()
            return first  # the router tries again, and answers 502
        fast = Http1FastPath(route=self._table, client_addr=self._peer[0])
        relay = self.fast = FastRelay(fast, client=client, client_reader=stream, stats=self._stats)
        client.resume_reading()
        outcome = await relay.run(first=first, app=sock)
        self.fast = None
        return None if outcome is Outcome.ENDED else b""
