"""Copies of a connection's incoming bytes for mirror subscribers.

A copy is sent only while the subscriber's window has room: a lagging subscriber loses
copies (and is told how many), never the real traffic."""

from __future__ import annotations

import asyncio

from podtap.agent.session import SessionHandler
from podtap.core.ids import Port, StreamId
from podtap.core.protocol import Data, IncomingMode, MirrorDropped, StreamClose


class _Sink:
    """A mirror stream ignores anything the subscriber sends back."""

    async def on_data(self, data: bytes) -> None:
        return None

    async def on_close(self, error: str | None) -> None:
        return None


class MirrorTap:
    def __init__(
        self,
        sessions: list[SessionHandler],
        *,
        port: int,
        peer: tuple[str, int],
        local: tuple[str, int],
    ) -> None:
        self._port = Port(port)
        self._peer, self._local = peer, local
        self._streams: dict[SessionHandler, StreamId] = {}
        self._dropped: dict[SessionHandler, int] = {}
        self._pending = list(sessions)

    async def _open(self) -> None:
        pending, self._pending = self._pending, []
        for session in pending:
            if session.closed:
                continue
            stream = session.stream_ids.next()
            session.open_stream(stream, _Sink())
            self._streams[session] = stream
            await session.offer(
                stream, peer=self._peer, local=self._local, mode=IncomingMode.MIRROR
            )

    async def copy(self, data: bytes) -> None:
        if self._pending:
            await self._open()
        for session, stream in self._streams.items():
            if session.closed:
                continue
            if session.writable(stream):
                await session.send_stream(Data(stream=stream, data=data))
            else:
                self._dropped[session] = self._dropped.get(session, 0) + 1

    async def close(self) -> None:
        for session, stream in self._streams.items():
            if session.closed:
                continue
            await session.send_stream(StreamClose(stream=stream))
            if dropped := self._dropped.get(session):
                await session.send(MirrorDropped(port=self._port, count=dropped))
            session.forget_stream(stream)


class TappedReader:
    """A StreamReader whose bytes are also copied to mirror subscribers."""

    def __init__(self, reader: asyncio.StreamReader, tap: MirrorTap | None) -> None:
        self._reader = reader
        self._tap = tap

    @property
    def untapped(self) -> asyncio.StreamReader | None:
        """The StreamReader itself when nothing is copied (its bytes may bypass read())."""
        return self._reader if self._tap is None else None

    async def read(self, n: int = -1) -> bytes:
        data = await self._reader.read(n)
        if self._tap is not None and data:
            await self._tap.copy(data)
        return data
