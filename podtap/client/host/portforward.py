"""`podtap port-forward -L`: a local port whose connections are made from the target pod."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Callable
from dataclasses import dataclass

from podtap.client.host.channel import ClientChannel
from podtap.core.ids import StreamId
from podtap.net.streams import TcpStream
from podtap.net.tasks import TaskSet


@dataclass(frozen=True, slots=True)
class Forward:
    local_port: int
    host: str
    remote_port: int

    @classmethod
    def parse(cls, text: str) -> Forward:
        """`[LOCAL:]HOST:REMOTE` (LOCAL defaults to REMOTE; 0 picks a free port)."""
        parts = text.rsplit(":", 2)
        if len(parts) == 2:
            parts = [parts[1], *parts]
        if len(parts) != 3 or not parts[1] or not (parts[0].isdigit() and parts[2].isdigit()):
            raise ValueError(
                f"{text!r}: expected [LOCAL_PORT:]HOST:REMOTE_PORT, for example 5432:db:5432"
            )
        local, host, remote = int(parts[0]), parts[1], int(parts[2])
        if not (0 <= local < 65536 and 0 < remote < 65536):
            raise ValueError(f"{text!r}: ports must be between 1 and 65535")
        return cls(local, host, remote)


async def serve_forward(
    channel: ClientChannel,
    forward: Forward,
    *,
    on_ready: Callable[[int], None],
    on_error: Callable[[str], None],
) -> None:
    """Listen on 127.0.0.1 until cancelled; each connection is opened from the pod."""
    tasks = TaskSet()

    async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        made: list[TcpStream] = []

        def endpoint(stream_id: StreamId) -> TcpStream:
            made.append(TcpStream(channel, stream_id, reader, writer))
            return made[0]

        result = await channel.connect(forward.host, forward.remote_port, endpoint=endpoint)
        if not result.ok:
            on_error(f"{forward.host}:{forward.remote_port} from the pod: {result.error}")
            writer.close()
            return
        made[0].start()
        await made[0].done.wait()

    server = await asyncio.start_server(handle, "127.0.0.1", forward.local_port)
    try:
        on_ready(server.sockets[0].getsockname()[1])
        async with server:
            await server.serve_forever()
    finally:
        with contextlib.suppress(Exception):
            await tasks.close()
