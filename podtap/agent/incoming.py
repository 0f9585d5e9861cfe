"""Incoming traffic of the pod: the redirect, the listener, and routing per connection."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import socket
from collections.abc import Callable
from typing import TYPE_CHECKING

from podtap.agent.mirror import MirrorTap, TappedReader
from podtap.agent.session import AGENT_MARK, SessionHandler, marked_socket
from podtap.core.ids import Port, SessionId
from podtap.core.protocol import HttpFilter, IncomingMode, NewConnection, Payload
from podtap.core.subscriptions import PortPlan, PortTable
from podtap.net.origdst import original_destination
from podtap.net.redirect import Redirector
from podtap.net.relay import relay
from podtap.net.streams import TcpStream
from podtap.net.tasks import TaskSet

if TYPE_CHECKING:
    from podtap.agent.http_steal import FilteredConnection

log = logging.getLogger(__name__)


async def app_socket(host: str, port: int) -> socket.socket:
    """A socket connected to the real app, with the mark that keeps us out of our own
    redirect."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = marked_socket(family, socket.SOCK_STREAM)
    sock.setblocking(False)
    try:
        await asyncio.wait_for(asyncio.get_running_loop().sock_connect(sock, (host, port)), 10)
    except BaseException:
        sock.close()
        raise
    return sock


async def connect_app(host: str, port: int) -> tuple[asyncio.StreamReader, asyncio.StreamWriter]:
    """Connect to the real app (see :func:`app_socket`) as a stream pair."""
    return await asyncio.open_connection(sock=await app_socket(host, port))


class IncomingTraffic:
    def __init__(self, *, session: Callable[[SessionId], SessionHandler | None]) -> None:
        self._session = session
        self.table = PortTable()
        self._tasks = TaskSet()
        self._server: asyncio.Server | None = None
        self._redirector: Redirector | None = None
        self.listen_port = 0
        self.filtered: dict[int, set[FilteredConnection]] = {}
        self.stats: dict[str, int] = {
            "connections_stolen": 0,
            "connections_filtered": 0,
            "connections_passed": 0,
            "connections_mirrored": 0,
            "requests_routed": 0,
            "requests_passed": 0,
        }

    async def start(self) -> None:
        self._server = await asyncio.start_server(
            self._accept, "0.0.0.0", 0, family=socket.AF_INET, backlog=1024
        )
        self.listen_port = self._server.sockets[0].getsockname()[1]
        self._redirector = Redirector(
            table=f"podtap_agent_{os.getpid()}", listen_port=self.listen_port, mark=AGENT_MARK
        )
        await self._redirector.start()

    async def subscribe(
        self, session: SessionHandler, port: int, mode: IncomingMode, http_filter: HttpFilter | None
    ) -> None:
        assert self._redirector is not None
        if port == self.listen_port:
            raise OSError(f"port {port} is the agent's own listener")
        self.table.subscribe(session.session, Port(port), mode, http_filter)
        try:
            await self._redirector.add_port(port)
        except Exception:
            self.table.unsubscribe(session.session, Port(port))
            raise

    async def unsubscribe(self, session: SessionHandler, port: int) -> None:
        """New connections stop coming (the port leaves the redirect when nobody else wants
        it); open filtered connections send that session's later requests to the app."""
        if self.table.unsubscribe(session.session, Port(port)) and self._redirector:
            await self._redirector.remove_port(port)
        for conn in list(self.filtered.get(port, ())):
            conn.stop_routing(session.session)

    async def remove_session(self, session: SessionHandler) -> None:
        for port in self.table.remove_session(session.session):
            if self._redirector is not None:
                await self._redirector.remove_port(port)
        for conns in self.filtered.values():
            for conn in list(conns):
                conn.stop_routing(session.session)

    def handles(self, message: Payload) -> bool:
        from podtap.agent.http_steal import SESSION_REPLIES

        return isinstance(message, SESSION_REPLIES)

    async def from_session(self, session: SessionHandler, message: Payload) -> None:
        endpoint = session.streams.get(message.stream)  # type: ignore[union-attr]
        handler = getattr(endpoint, "from_session", None)
        if handler is not None:
            await handler(message)

    def _sessions(self, ids: tuple[SessionId, ...]) -> list[SessionHandler]:
        return [s for s in (self._session(i) for i in ids) if s is not None and not s.closed]

    async def _accept(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        sock: socket.socket = writer.get_extra_info("socket")
        peer = writer.get_extra_info("peername")[:2]
        try:
            local = original_destination(sock)
        except OSError:
            writer.close()  # not redirected: somebody found our port directly
            return
        if local[1] == self.listen_port:
            writer.close()
            return
        plan = self.table.plan(Port(local[1]))
        mirrors = self._sessions(plan.mirrors)
        self.stats["connections_mirrored"] += bool(mirrors)
        tap = MirrorTap(mirrors, port=local[1], peer=peer, local=local) if mirrors else None
        try:
            await self._route(plan, TappedReader(reader, tap), writer, peer=peer, local=local)
        except (ConnectionError, OSError, TimeoutError) as exc:
            log.info("connection %s -> %s ended: %s", peer, local, exc)
            writer.transport.abort()
        finally:
            if tap is not None:
                await tap.close()

    async def _route(
        self,
        plan: PortPlan,
        reader: TappedReader,
        writer: asyncio.StreamWriter,
        *,
        peer: tuple[str, int],
        local: tuple[str, int],
    ) -> None:
        if plan.steal_all is not None and (owner := self._session(plan.steal_all)):
            stream = owner.stream_ids.next()
            self.stats["connections_stolen"] += 1
            tcp = TcpStream(owner, stream, reader, writer)
            owner.open_stream(stream, tcp)
            await owner.send(
                NewConnection(
                    stream,
                    Port(local[1]),
                    peer[0],
                    Port(peer[1]),
                    local[0],
                    Port(local[1]),
                    IncomingMode.STEAL,
                )
            )
            tcp.start()
            await tcp.done.wait()
            return
        if plan.filtered:
            from podtap.agent.http_steal import serve_filtered

            self.stats["connections_filtered"] += 1
            await serve_filtered(self, plan, reader, writer, peer=peer, local=local)
            return
        self.stats["connections_passed"] += 1
        up_reader, up_writer = await connect_app(*local)
        await relay(reader, writer, up_reader, up_writer)

    def session(self, session: SessionId) -> SessionHandler | None:
        return self._session(session)

    async def close(self, *, drain: float = 5.0) -> None:
        """Unhook every port (new connections go to the app again), let filtered
        connections finish what they read (the last response says `Connection: close`),
        then stop listening."""
        if self._redirector is not None:
            await self._redirector.close()
        conns = [c for cs in self.filtered.values() for c in cs]
        for conn in conns:
            await conn.drain()
        if conns:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(asyncio.gather(*(c.done.wait() for c in conns)), drain)
        if self._server is not None:
            self._server.close()
        await self._tasks.close()
        with contextlib.suppress(Exception):
            if self._server is not None:
                await asyncio.wait_for(self._server.wait_closed(), 5)
