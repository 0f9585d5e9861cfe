"""The sockets the agent itself opens inside the pod: to the app, or anywhere a session asks.

Every one of them carries :data:`AGENT_MARK`. The redirect (``net/redirect.py``) steals
every new connection to a subscribed port, including the pod's own; the mark is how our
connections to the real app get past it instead of coming back to the agent. Nothing of
the agent above this module creates a socket of its own."""

from __future__ import annotations

import asyncio
import contextlib
import socket

AGENT_MARK = 0x70D7A9
CONNECT_TIMEOUT = 10.0


def marked_socket(family: int, kind: int) -> socket.socket:
    """A socket whose traffic our own redirect rules leave alone."""
    sock = socket.socket(family, kind)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_MARK, AGENT_MARK)
    return sock


async def connect_marked(
    host: str, port: int, *, kind: int = socket.SOCK_STREAM, timeout: float = CONNECT_TIMEOUT
) -> socket.socket:
    """A marked, non-blocking socket connected to ``host`` (an address, not a name):
    closed again if the connect fails or times out, so no half-made socket leaks."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = marked_socket(family, kind)
    sock.setblocking(False)
    try:
        await asyncio.wait_for(asyncio.get_running_loop().sock_connect(sock, (host, port)), timeout)
    except BaseException:
        sock.close()
        raise
    return sock


async def app_socket(host: str, port: int) -> socket.socket:
    """A TCP socket connected to the real app (see :func:`connect_marked`)."""
    return await connect_marked(host, port)


async def connect_app(host: str, port: int) -> tuple[asyncio.StreamReader, asyncio.StreamWriter]:
    """Connect to the real app (see :func:`app_socket`) as a stream pair."""
    return await asyncio.open_connection(sock=await app_socket(host, port))


def half_close(writer: asyncio.StreamWriter) -> None:
    """Send FIN if the transport can still write. A peer that already reset its side
    closed our transport, and uvloop raises on ``write_eof`` then; that must not end the
    task that serves the other side of the connection."""
    if writer.transport.is_closing() or not writer.can_write_eof():
        return
    with contextlib.suppress(OSError, RuntimeError):
        writer.write_eof()
