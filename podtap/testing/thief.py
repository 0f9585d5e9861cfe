"""A minimal program that steals a port with the Redirector, for the net-layer tests.

Run inside a network namespace: `python -m podtap.testing.thief PORT...`. It answers every
redirected connection with `stolen ADDR:PORT` (the original destination) and closes.
Commands on stdin: `remove PORT`, `add PORT`; each answered `ok`. Prints `ready` first."""

from __future__ import annotations

import asyncio
import os
import socket
import sys

from podtap.net.origdst import original_destination
from podtap.net.redirect import Redirector
from podtap.net.tasks import TaskSet

MARK = 0x70D7


async def main(ports: list[int]) -> None:
    async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        sock = writer.get_extra_info("socket")
        addr, port = original_destination(sock)
        writer.write(f"stolen {addr}:{port}\n".encode())
        await writer.drain()
        writer.close()

    server = await asyncio.start_server(handle, "0.0.0.0", 0, family=socket.AF_INET)
    listen = server.sockets[0].getsockname()[1]
    redirector = Redirector(table=f"podtap_thief_{os.getpid()}", listen_port=listen, mark=MARK)
    await redirector.start()
    for p in ports:
        await redirector.add_port(p)
    print("ready", flush=True)
    loop = asyncio.get_running_loop()
    reader = asyncio.StreamReader()
    await loop.connect_read_pipe(lambda: asyncio.StreamReaderProtocol(reader), sys.stdin)
    tasks = TaskSet()
    while line := (await reader.readline()).decode().split():
        verb, port = line[0], int(line[1])
        await (redirector.add_port(port) if verb == "add" else redirector.remove_port(port))
        print("ok", flush=True)
    await redirector.close()
    server.close()
    await tasks.close()


if __name__ == "__main__":
    asyncio.run(main([int(p) for p in sys.argv[1:]]))
