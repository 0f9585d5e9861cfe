"""The destination a redirected TCP connection was originally sent to (SO_ORIGINAL_DST)."""

from __future__ import annotations

import socket
import struct

SO_ORIGINAL_DST = 80
SOL_IPV6 = 41


def original_destination(sock: socket.socket) -> tuple[str, int]:
    """(address, port) before NAT; raises OSError if the connection was not redirected."""
    if sock.family == socket.AF_INET6:
        raw = sock.getsockopt(SOL_IPV6, SO_ORIGINAL_DST, 28)
        port = struct.unpack_from("!H", raw, 2)[0]
        addr = socket.inet_ntop(socket.AF_INET6, raw[8:24])
        if addr.startswith("::ffff:"):
            addr = addr.removeprefix("::ffff:")
        return addr, port
    raw = sock.getsockopt(socket.SOL_IP, SO_ORIGINAL_DST, 16)
    port = struct.unpack_from("!H", raw, 2)[0]
    return socket.inet_ntoa(raw[4:8]), port
