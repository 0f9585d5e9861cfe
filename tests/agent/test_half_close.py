"""Half-closing a connection whose peer already reset it (issue 9, low items).

When the app resets its connection, uvloop closes the agent's transport; a later
``ShutdownApp`` (the client half-closed) called ``write_eof()`` on it, which raises
there, and the task serving the client died without closing the client's side."""

from __future__ import annotations

import asyncio
import socket
import struct

import uvloop

from podtap.agent.http_steal import half_close
from podtap.testing.wait import async_wait_until


def test_half_close_of_a_transport_the_peer_reset_does_not_raise() -> None:
    async def go() -> None:
        def reset(_r: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
            sock = writer.get_extra_info("socket")
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
            writer.close()  # linger 0: RST

        server = await asyncio.start_server(reset, "127.0.0.1", 0)
        reader, writer = await asyncio.open_connection(
            "127.0.0.1", server.sockets[0].getsockname()[1]
        )
        try:
            try:
                while await asyncio.wait_for(reader.read(1024), 5):
                    pass
            except ConnectionResetError:
                pass
            await async_wait_until(writer.transport.is_closing, what="the reset to close it")
            half_close(writer)
        finally:
            writer.close()
            server.close()
            await server.wait_closed()

    uvloop.run(go())
