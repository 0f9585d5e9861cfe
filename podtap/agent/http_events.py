"""What happens to a filtered connection, as events for its one loop.

A filtered connection has several sources — the client's socket, the app's, each
session's stream, the credit watch, the agent draining — and one router. Each source only
*posts* what happened here; the connection's loop (``http_steal.py``) alone feeds the
router and carries out the actions it returns, one event at a time, in order (mitmproxy's
layers work so). A reader that must not run ahead of the router (its next read depends on
the pause predicates) *submits* instead, and waits until its event was handled."""

from __future__ import annotations

import asyncio
import enum
from collections.abc import Hashable
from dataclasses import dataclass

from podtap.core.ids import SessionId, StreamId
from podtap.core.protocol import BodyChunk, BodyEnd, HttpResponseHead


class Leave(enum.Enum):
    """May client bytes bypass the router (go to the fast path) instead of entering it?"""

    NO = "no"
    AT_START = "at start"  # the router has nothing yet: if the fast path may take them
    AFTER_ROUTING = "after routing"  # the router routed requests and is at rest again


@dataclass(frozen=True, slots=True, kw_only=True)
class ClientBytes:
    """Bytes read from the client (empty: its EOF)."""

    data: bytes
    leave: Leave = Leave.NO


@dataclass(frozen=True, slots=True)
class ClientAbort:
    """The client connection broke."""


@dataclass(frozen=True, slots=True)
class UseRouter:
    """Start over with a new router of this kind (after the first bytes, or a fast-path
    turn): the old one is at rest."""

    http2: bool


@dataclass(frozen=True, slots=True, kw_only=True)
class AppBytes:
    """Bytes from one connection to the app (empty: its EOF, reset or failed connect).
    ``link`` names that connection: bytes of one already closed are dropped."""

    link: object
    data: bytes


@dataclass(frozen=True, slots=True, kw_only=True)
class SessionReply:
    """A session's answer to a request it was routed."""

    session: SessionId
    message: HttpResponseHead | BodyChunk | BodyEnd


@dataclass(frozen=True, slots=True, kw_only=True)
class SessionBytes:
    """Raw bytes from a session after an upgrade it accepted (empty: its half-close)."""

    session: SessionId
    stream: StreamId
    data: bytes


@dataclass(frozen=True, slots=True, kw_only=True)
class SessionEnded:
    """A session's stream for this connection ended (StreamClose, or the session did)."""

    session: SessionId
    stream: StreamId


@dataclass(frozen=True, slots=True)
class SessionGone:
    """A route whose session could not be reached when a request was due to it."""

    route: Hashable


@dataclass(frozen=True, slots=True)
class GrantCredit:
    """The client took the response bytes so far: sessions may send more."""


@dataclass(frozen=True, slots=True)
class Drain:
    """The agent unhooks the port: finish what was read, then close."""


@dataclass(frozen=True, slots=True)
class Finish:
    """The connection is over (the fast path saw it end)."""


Event = (
    ClientBytes
    | ClientAbort
    | UseRouter
    | AppBytes
    | SessionReply
    | SessionBytes
    | SessionEnded
    | SessionGone
    | GrantCredit
    | Drain
    | Finish
)


class Inbox:
    """Events for one loop: many tasks put, one loop takes them in order."""

    def __init__(self) -> None:
        self._queue: asyncio.Queue[tuple[Event, asyncio.Future[bool] | None]] = asyncio.Queue()

    def post(self, event: Event) -> None:
        """Hand over ``event`` and go on."""
        self._queue.put_nowait((event, None))

    async def submit(self, event: Event) -> bool:
        """Hand over ``event`` and wait until the loop handled it; its answer (for
        ClientBytes: True if the bytes go to the fast path instead)."""
        handled: asyncio.Future[bool] = asyncio.get_running_loop().create_future()
        self._queue.put_nowait((event, handled))
        return await handled

    async def take(self) -> tuple[Event, asyncio.Future[bool] | None]:
        """The next event, and the future its submitter waits on (None if posted)."""
        return await self._queue.get()
