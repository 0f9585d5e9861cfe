"""Typed identifiers used across the protocol.

All ids are plain ``int`` at runtime; the ``NewType`` wrappers let mypy tell them apart.
"""

from __future__ import annotations

import re
import secrets
from typing import Final, NewType

SessionId = NewType("SessionId", int)
"""A random 64-bit session id, shown to users as 16 uppercase hex digits."""

StreamId = NewType("StreamId", int)
"""A stream (TCP connection, HTTP exchange, UDP flow) within one session, 0 .. 2**64-1."""

RequestId = NewType("RequestId", int)
"""Correlates a request with its response (subscribe, dns, files, env, HTTP exchange)."""

Port = NewType("Port", int)
"""A TCP/UDP port number, 0 .. 65535."""

MAX_ID: Final = 2**64 - 1
MAX_PORT: Final = 65535

_SESSION_ID_RE: Final = re.compile(r"[0-9A-Fa-f]{16}")


def new_session_id() -> SessionId:
    """Return a fresh random, non-zero 64-bit session id."""
    while True:
        value = secrets.randbits(64)
        if value:
            return SessionId(value)


def format_session_id(session: SessionId) -> str:
    """Format a session id as exactly 16 uppercase hex digits."""
    if not 0 <= session <= MAX_ID:
        raise ValueError(f"session id {session!r} is not a 64-bit unsigned number")
    return f"{session:016X}"


def parse_session_id(text: str) -> SessionId:
    """Parse 16 hex digits (any case, surrounding blanks ignored) into a session id."""
    candidate = text.strip()
    if not _SESSION_ID_RE.fullmatch(candidate):
        raise ValueError(
            f"invalid session id {text!r}: expected 16 hexadecimal digits, e.g. 0123456789ABCDEF"
        )
    return SessionId(int(candidate, 16))


class StreamIdAllocator:
    """Hands out stream ids for streams opened by one side of a session.

    Both sides of a session open streams (the client opens outgoing connections, the cluster
    side announces incoming ones), so they draw from disjoint sets: the client side uses odd
    ids, the cluster side (operator or agent) even ids, never 0.
    """

    __slots__ = ("_next",)

    def __init__(self, *, client_side: bool) -> None:
        self._next = 1 if client_side else 2

    def next(self) -> StreamId:
        """Return the next unused stream id."""
        value = self._next
        if value > MAX_ID:
            raise OverflowError("stream ids exhausted")
        self._next = value + 2
        return StreamId(value)
