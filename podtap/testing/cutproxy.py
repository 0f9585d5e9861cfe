"""A TCP relay on loopback whose connections a test can cut, as a network fault would.

Put it between a client and a broker that cannot be restarted without losing its data
(moto keeps its queues in memory): :meth:`CutProxy.cut` resets every relayed connection
and refuses new ones, :meth:`CutProxy.resume` listens again on the same port.
"""

from __future__ import annotations

import asyncio
import contextlib

from podtap.net.tasks import TaskSet

__all__ = ["CutProxy"]


class CutProxy:
    def __init__(self, target_port: int) -> None:
        self.target_port = target_port
        self.port = 0
        self.cuts = 0
        self._server: asyncio.Server | None = None
        self._writers: set[asyncio.StreamWriter] = set()
        self._tasks = TaskSet()

    async def start(self) -> None:
        self._server = await asyncio.start_server(self._relay, "127.0.0.1", self.port)
        self.port = self._server.sockets[0].getsockname()[1]

    async def _relay(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        if (task := asyncio.current_task()) is not None:
            self._tasks.adopt(task)  # asyncio's handler task: ours to end on close()
        try:
            up_reader, up_writer = await asyncio.open_connection("127.0.0.1", self.target_port)
        except OSError:
            writer.close()
            return
        self._writers |= {writer, up_writer}
        one = self._tasks.spawn(self._pipe(reader, up_writer), name="cutproxy up")
        other = self._tasks.spawn(self._pipe(up_reader, writer), name="cutproxy down")
        await asyncio.gather(one, other, return_exceptions=True)

    async def _pipe(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            while data := await reader.read(65536):
                writer.write(data)
                await writer.drain()
        except (OSError, asyncio.IncompleteReadError):
            pass
        finally:
            self._writers.discard(writer)
            writer.close()

    async def cut(self) -> None:
        """Refuse new connections and reset every open one."""
        self.cuts += 1
        if self._server is not None:
            self._server.close()
            self._server = None
        for writer in list(self._writers):
            transport = writer.transport
            with contextlib.suppress(Exception):
                transport.abort()
        self._writers.clear()

    async def resume(self) -> None:
        await self.start()

    async def close(self) -> None:
        await self.cut()
        await self._tasks.close()
