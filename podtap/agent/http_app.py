"""A filtered connection's keep-alive connection to the real app, and its reader.

The router asks for it (``OpenApp``) and writes to it before it is connected: those bytes
wait here. Its reader posts what the app sends as events for the connection's loop and
reads on only once the loop has handled them and the router has room (so a slow client
slows the app's reads, never the agent's memory). Each link is one connection: once closed,
bytes it read late are recognised by the loop and dropped."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable

from podtap.agent.app_side import connect_app, half_close
from podtap.agent.http_events import AppBytes, Event
from podtap.net.tasks import TaskSet

log = logging.getLogger(__name__)
READ_SIZE = 64 * 1024


class AppLink:
    def __init__(
        self,
        local: tuple[str, int],
        *,
        submit: Callable[[Event], Awaitable[bool]],
        until_room: Callable[[], Awaitable[None]],
        client: asyncio.StreamWriter,
    ) -> None:
        self._local = local
        self._submit = submit
        self._until_room = until_room
        self._client = client
        self._writer: asyncio.StreamWriter | None = None
        self._pending: list[bytes] | None = []  # until connected; None once it failed
        self._tasks = TaskSet()

    def start(self, *, name: str) -> None:
        self._tasks.spawn(self._run(), name=name)

    def write(self, data: bytes) -> None:
        if self._writer is not None:
            self._writer.write(data)
        elif self._pending is not None:
            self._pending.append(data)

    def shutdown(self) -> None:
        """Half-close towards the app (raw relays only)."""
        if self._writer is not None:
            half_close(self._writer)

    def close(self) -> None:
        self._tasks.cancel_all()
        if self._writer is not None:
            self._writer.close()
            self._writer = None
        self._pending = None

    async def _run(self) -> None:
        try:
            reader, writer = await connect_app(*self._local)
        except (OSError, TimeoutError) as exc:
            log.info("cannot reach the app at %s:%d: %s", *self._local, exc)
            self._pending = None
            await self._submit(AppBytes(link=self, data=b""))
            return
        pending, self._pending = self._pending or [], None
        self._writer = writer
        for data in pending:
            writer.write(data)
        await self._read(reader)

    async def _read(self, reader: asyncio.StreamReader) -> None:
        while True:
            await self._until_room()
            try:
                data = await reader.read(READ_SIZE)
            except (ConnectionError, OSError):
                data = b""
            await self._submit(AppBytes(link=self, data=data))
            if not data:
                return
            with contextlib.suppress(ConnectionError, OSError):
                await self._client.drain()
