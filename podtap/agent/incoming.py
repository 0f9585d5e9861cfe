"""Incoming traffic of the pod: the redirect, the listener, and routing per connection.

What sessions subscribe to lives here (the port table); the server hands this room the
Subscribe and Unsubscribe frames and tells it when a session ends. Each connection the
redirect brings goes one way: stolen whole to a session (a stream), to a filtered
connection (``http_steal.py``), or relayed to the app; mirrors get a copy of its bytes."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import socket
from collections.abc import Callable

from podtap.agent.app_side import AGENT_MARK, connect_app
from podtap.agent.http_steal import FilteredConnection
from podtap.agent.mirror import MirrorTap, TappedReader
from podtap.agent.session import SessionHandler
from podtap.core.ids import Port, SessionId
from podtap.core.protocol import IncomingMode, InvalidHttpFilter, Subscribe, SubscribeResult
from podtap.core.subscriptions import PortPlan, PortTable
from podtap.net.origdst import original_destination
from podtap.net.redirect import Redirector
from podtap.net.relay import relay
from podtap.net.streams import TcpStream
from podtap.net.tasks import TaskSet

log = logging.getLogger(__name__)


class IncomingTraffic:
    def __init__(self, *, session: Callable[[SessionId], SessionHandler | None]) -> None:
        self._session = session
        self.table = PortTable()
        self._tasks = TaskSet()
        self._server: asyncio.Server | None = None
        self._redirector: Redirector | None = None
        self.listen_port = 0
        self._filtered: dict[int, set[FilteredConnection]] = {}
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

    async def subscribe(self, session: SessionId, req: Subscribe) -> SubscribeResult:
        """Take the port into the redirect for ``session``, as ``req`` asks; the answer."""
        assert self._redirector is not None
        flt = req.http_filter
        if flt is not None:
            try:
                flt.validate()
            except InvalidHttpFilter as exc:
                return SubscribeResult(request=req.request, ok=False, error=str(exc))
        try:
            if req.port == self.listen_port:
                raise OSError(f"port {req.port} is the agent's own listener")
            self.table.subscribe(session, Port(req.port), req.mode, flt)
            try:
                await self._redirector.add_port(req.port)
            except Exception:
                self.table.unsubscribe(session, Port(req.port))
                raise
        except OSError as exc:
            return SubscribeResult(
                request=req.request, ok=False, error=f"cannot redirect port {req.port}: {exc}"
            )
        return SubscribeResult(request=req.request, ok=True)

    async def unsubscribe(self, session: SessionId, port: int) -> None:
        """New connections stop coming (the port leaves the redirect when nobody else wants
        it); open filtered connections send that session's later requests to the app."""
        if self.table.unsubscribe(session, Port(port)) and self._redirector:
            await self._redirector.remove_port(port)
        for conn in list(self._filtered.get(port, ())):
            conn.stop_routing(session)

    async def remove_session(self, session: SessionId) -> None:
        """The session ended: its ports leave the redirect (unless others hold them), and
        open filtered connections stop routing to it."""
        for port in self.table.remove_session(session):
            if self._redirector is not None:
                await self._redirector.remove_port(port)
        for conns in self._filtered.values():
            for conn in list(conns):
                conn.stop_routing(session)

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
            await owner.offer(stream, peer=peer, local=local, mode=IncomingMode.STEAL)
            tcp.start()
            await tcp.done.wait()
            return
        if plan.filtered:
            self.stats["connections_filtered"] += 1
            await self._filter(plan, reader, writer, peer=peer, local=local)
            return
        self.stats["connections_passed"] += 1
        up_reader, up_writer = await connect_app(*local)
        await relay(reader, writer, up_reader, up_writer)

    async def _filter(
        self,
        plan: PortPlan,
        reader: TappedReader,
        writer: asyncio.StreamWriter,
        *,
        peer: tuple[str, int],
        local: tuple[str, int],
    ) -> None:
        """Serve one connection through the HTTP routers, known here while it lasts (so
        an unsubscribe or the agent's drain reaches it)."""
        conn = FilteredConnection(
            plan, reader, writer, peer=peer, local=local, sessions=self._session, stats=self.stats
        )
        active = self._filtered.setdefault(local[1], set())
        active.add(conn)
        try:
            await conn.run()
        finally:
            active.discard(conn)

    async def close(self, *, drain: float = 5.0) -> None:
        """Unhook every port (new connections go to the app again), let filtered
        connections finish what they read (the last response says `Connection: close`),
        then stop listening."""
        if self._redirector is not None:
            await self._redirector.close()
        conns = [c for cs in self._filtered.values() for c in cs]
        for conn in conns:
            conn.drain()
        if conns:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(asyncio.gather(*(c.done.wait() for c in conns)), drain)
        if self._server is not None:
            self._server.close()
        await self._tasks.close()
        with contextlib.suppress(Exception):
            if self._server is not None:
                await asyncio.wait_for(self._server.wait_closed(), 5)
