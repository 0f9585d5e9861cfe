"""UDP out of the jail: TPROXY to a transparent socket, one bridge stream per flow.

NAT hides a UDP datagram's destination, so UDP is caught with TPROXY (works inside an
unprivileged user namespace): outgoing non-loopback datagrams are marked, routed back via
lo, and delivered to our IP_TRANSPARENT socket with their original destination in
IP_RECVORIGDSTADDR. Replies are sent from a transparent socket bound to that destination
(marked so they are not caught again). Each flow is a `UdpFlow` on the bridge, its
datagrams framed by `bridge.datagram`."""

from __future__ import annotations

import asyncio
import contextlib
import socket
import struct
import subprocess

from podtap.client.bridge import Opened, UdpFlow, datagram, encode, read_datagram, receive
from podtap.net.tasks import TaskSet

IP_TRANSPARENT = 19
IP_RECVORIGDSTADDR = 20
CAPTURE_MARK = 0x1
REPLY_MARK = 0x2


def udp_rules(port: int) -> str:
    return (
        "table ip podtap_jail_udp {\n"
        "  chain out {\n    type route hook output priority mangle; policy accept;\n"
        f"    meta l4proto udp ip daddr != 127.0.0.0/8 meta mark != {REPLY_MARK} "
        f"meta mark set {CAPTURE_MARK}\n  }}\n"
        "  chain pre {\n    type filter hook prerouting priority mangle; policy accept;\n"
        f"    meta l4proto udp meta mark {CAPTURE_MARK} tproxy to 127.0.0.1:{port}\n  }}\n"
        "}\n"
    )


def setup_udp(port: int) -> None:
    subprocess.run(["ip", "rule", "add", "fwmark", str(CAPTURE_MARK), "lookup", "100"], check=True)
    subprocess.run(
        ["ip", "route", "add", "local", "0.0.0.0/0", "dev", "lo", "table", "100"], check=True
    )
    subprocess.run(["nft", "-f", "-"], input=udp_rules(port), text=True, check=True)


def transparent_socket() -> socket.socket:
    sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    sock.setsockopt(socket.SOL_IP, IP_TRANSPARENT, 1)
    sock.setsockopt(socket.SOL_IP, IP_RECVORIGDSTADDR, 1)
    sock.bind(("127.0.0.1", 0))
    sock.setblocking(False)
    return sock


class UdpFlows:
    def __init__(self, sock: socket.socket, bridge: str) -> None:
        self.sock = sock
        self.bridge = bridge
        self._flows: dict[tuple[tuple[str, int], tuple[str, int]], asyncio.StreamWriter] = {}
        self._tasks = TaskSet()

    async def run(self) -> None:
        loop = asyncio.get_running_loop()
        readable = asyncio.Event()
        loop.add_reader(self.sock.fileno(), readable.set)
        try:
            while True:
                await readable.wait()
                readable.clear()
                while True:
                    try:
                        data, anc, _, src = self.sock.recvmsg(65535, 64)
                    except BlockingIOError:
                        break
                    dst = _original(anc)
                    if dst is not None:
                        await self._send(src, dst, data)
        finally:
            loop.remove_reader(self.sock.fileno())
            await self._tasks.close()

    async def _send(self, src: tuple[str, int], dst: tuple[str, int], data: bytes) -> None:
        writer = self._flows.get((src, dst))
        if writer is None:
            reader, writer = await asyncio.open_unix_connection(self.bridge)
            writer.write(encode(UdpFlow(host=dst[0], port=dst[1])))
            self._flows[(src, dst)] = writer
            self._tasks.spawn(self._replies(reader, src, dst), name=f"udp {src}->{dst}")
        writer.write(datagram(data))

    async def _replies(
        self, reader: asyncio.StreamReader, src: tuple[str, int], dst: tuple[str, int]
    ) -> None:
        if not isinstance(await receive(reader), Opened):
            return
        reply = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        reply.setsockopt(socket.SOL_IP, IP_TRANSPARENT, 1)
        reply.setsockopt(socket.SOL_SOCKET, socket.SO_MARK, REPLY_MARK)
        reply.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        reply.bind(dst)
        try:
            while True:
                reply.sendto(await read_datagram(reader), src)
        except (asyncio.IncompleteReadError, ConnectionError):
            pass
        finally:
            reply.close()
            with contextlib.suppress(KeyError):
                del self._flows[(src, dst)]


def _original(ancillary: list[tuple[int, int, bytes]]) -> tuple[str, int] | None:
    for level, kind, data in ancillary:
        if level == socket.SOL_IP and kind == IP_RECVORIGDSTADDR:
            port = struct.unpack_from("!H", data, 2)[0]
            return socket.inet_ntoa(data[4:8]), port
    return None
