"""Copying bytes both ways between two stream pairs until both sides are done."""

from __future__ import annotations

import asyncio
import contextlib
from typing import Protocol

CHUNK = 256 * 1024


class ByteReader(Protocol):
    """Anything with StreamReader's read(): a StreamReader, or a wrapper that taps it."""

    async def read(self, n: int = -1, /) -> bytes: ...


async def _pump(reader: ByteReader, writer: asyncio.StreamWriter) -> None:
    try:
        while data := await reader.read(CHUNK):
            writer.write(data)
            await writer.drain()
        if writer.can_write_eof():
            writer.write_eof()
    except (ConnectionError, OSError):
        writer.transport.abort()


async def relay(
    a_reader: ByteReader,
    a_writer: asyncio.StreamWriter,
    b_reader: ByteReader,
    b_writer: asyncio.StreamWriter,
) -> None:
    """Relay a<->b, half-closing each direction as its source ends, then close both."""
    try:
        await asyncio.gather(_pump(a_reader, b_writer), _pump(b_reader, a_writer))
    finally:
        for w in (a_writer, b_writer):
            w.close()
            with contextlib.suppress(OSError, ConnectionError):
                await w.wait_closed()
