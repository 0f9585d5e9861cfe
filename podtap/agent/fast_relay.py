"""The I/O of the HTTP/1.1 fast path: client and app transports joined by two protocols.

While :class:`~podtap.core.routing.fast1.Http1FastPath` finds only plain requests that no
filter matches, bytes go from one transport's ``data_received`` straight into the other's
``write`` — no stream reader, task switch or future per request. Each side stops reading
while the other's write buffer is full. When the fast path asks for the router, the client
stops being read; once every forwarded request has its answer, the app connection is closed,
the bytes not yet routed are put back into the client's ``StreamReader`` and its original
protocol is restored, so the router reads the connection as if it had from the start.
"""

from __future__ import annotations

import asyncio
import enum
import socket
from typing import Protocol

from podtap.core.routing import Http1FastPath


class _Readable(Protocol):
    def pause_reading(self) -> None: ...

    def resume_reading(self) -> None: ...


class Outcome(enum.Enum):
    HANDOFF = "handoff"  # the router takes over: read the client's StreamReader again
    ENDED = "ended"  # the connection is over (both transports closed)


class _Side(asyncio.Protocol):
    """One transport's protocol: hands its events to the relay."""

    __slots__ = ("_client", "_relay")

    def __init__(self, relay: FastRelay, *, client: bool) -> None:
        self._relay, self._client = relay, client

    def data_received(self, data: bytes) -> None:
        if self._client:
            self._relay.from_client(data)
        else:
            self._relay.from_app(data)

    def eof_received(self) -> bool:
        self._relay.eof(client=self._client)
        return True  # keep the transport open for writing: a half-close

    def pause_writing(self) -> None:  # this side's write buffer is full: stop the other
        self._relay.other(client=self._client).pause_reading()

    def resume_writing(self) -> None:
        self._relay.other(client=self._client).resume_reading()

    def connection_lost(self, exc: Exception | None) -> None:
        self._relay.lost(client=self._client)


class FastRelay:
    """Relays one client connection through an :class:`Http1FastPath` until it ends or
    the router must take over. ``stats`` gets ``requests_passed`` counted."""

    def __init__(
        self,
        fast: Http1FastPath,
        *,
        client: asyncio.Transport,
        client_reader: asyncio.StreamReader,
        stats: dict[str, int],
    ) -> None:
        self.fast = fast
        self._client = client
        self._client_reader = client_reader
        self._original = client.get_protocol()
        self._stats = stats
        self._app: asyncio.Transport | None = None
        self._pending: list[bytes] = []  # for the app, until it is connected
        self._client_eof = False
        self._app_eof = False
        self._draining = False
        self._outcome: asyncio.Future[Outcome] = asyncio.get_running_loop().create_future()
        client.set_protocol(_Side(self, client=True))

    async def run(self, *, first: bytes, app: socket.socket) -> Outcome:
        """Relay, starting with ``first`` (already read from the client) and the connected
        socket ``app``; returns when the connection ended or the router must take over."""
        # ``first`` goes through the fast path before anything the client sends while the
        # app's transport is being made: parsed after those bytes, it would put a body
        # where a head belongs (request smuggling, issue 9).
        self.from_client(first)
        loop = asyncio.get_running_loop()
        try:
            transport, _ = await loop.create_connection(lambda: _Side(self, client=False), sock=app)
        except OSError:
            app.close()
            self._finish(Outcome.ENDED)
            return await self._outcome
        self._app = transport
        if self._outcome.done():
            transport.close()
        else:
            for data in self._pending:
                transport.write(data)
            self._pending.clear()
            if self._client_eof:
                self.eof(client=True)
        try:
            return await self._outcome
        finally:
            self._close_app()

    def other(self, *, client: bool) -> _Readable:
        app = self._app
        if client:
            return app if app is not None else _NoTransport()
        return self._client

    def from_client(self, data: bytes) -> None:
        fast = self.fast
        out = fast.client_data(data)
        self._stats["requests_passed"] += fast.take_passed()
        if out:
            if self._app is not None:
                self._app.write(out)
            else:
                self._pending.append(out)
        if fast.handoff:
            self._client.pause_reading()
            self._check_idle()

    def from_app(self, data: bytes) -> None:
        fast = self.fast
        fast.app_data(data)
        self._client.write(data)
        if fast.raw and (rest := fast.client_data(b"")) and self._app is not None:
            self._app.write(rest)  # what waited for the router goes as it is
            self._client.resume_reading()
        if fast.handoff or self._draining:
            self._check_idle()

    def eof(self, *, client: bool) -> None:
        if client:
            self._client_eof = True
            if self.fast.handoff:
                self._check_idle()
            elif self._app is not None and self._app.can_write_eof():
                self._app.write_eof()
        else:
            self._app_eof = True
            if self.fast.handoff and self.fast.idle:
                self._check_idle()  # the router opens a new connection for what follows
            elif self._client.can_write_eof():
                self._client.write_eof()

    def lost(self, *, client: bool) -> None:
        if client or not (self.fast.handoff and self.fast.idle):
            self._finish(Outcome.ENDED)
        else:
            self._check_idle()

    def drain(self) -> None:
        """Close the connection at the next point where no request is in flight."""
        self._draining = True
        self._check_idle()

    def _check_idle(self) -> None:
        if not self.fast.idle or self._outcome.done():
            return
        if self._draining:
            self._finish(Outcome.ENDED)
        elif self.fast.handoff:
            self._client_reader.feed_data(self.fast.take_backlog())
            if self._client_eof:
                self._client_reader.feed_eof()
            self._finish(Outcome.HANDOFF)

    def _finish(self, outcome: Outcome) -> None:
        if self._outcome.done():
            return
        if outcome is Outcome.HANDOFF:
            self._client.set_protocol(self._original)
            self._client.resume_reading()
        else:
            self._client.close()
        self._close_app()
        self._outcome.set_result(outcome)

    def _close_app(self) -> None:
        if self._app is not None:
            self._app.close()


class _NoTransport:
    """Stands for the app's transport before it is connected (flow control is moot)."""

    def pause_reading(self) -> None:
        pass

    def resume_reading(self) -> None:
        pass
