"""Filtered steal: the asyncio shell around the sans-IO HTTP routers, one loop per connection.

One :class:`FilteredConnection` per intercepted client connection. Its sources — the
client's reader (``http_client.py``), the app link (``http_app.py``), each session's
bridge (``session_bridge.py``), the credit watch, the agent draining — only put events in
its inbox (``http_events.py``). Its loop takes one event at a time, gives it to the router
and carries out the actions returned, in order, before it takes the next: the router is
fed from this loop alone, and no action runs while another is half done."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Callable, Hashable

from podtap.agent.app_side import half_close
from podtap.agent.http_app import AppLink
from podtap.agent.http_client import ClientReader
from podtap.agent.http_events import (
    AppBytes,
    ClientAbort,
    ClientBytes,
    Drain,
    Event,
    Finish,
    GrantCredit,
    Inbox,
    Leave,
    SessionBytes,
    SessionEnded,
    SessionGone,
    SessionReply,
    UseRouter,
)
from podtap.agent.mirror import TappedReader
from podtap.agent.session import SessionHandler
from podtap.agent.session_bridge import Bridges, SessionAction
from podtap.core.ids import SessionId
from podtap.core.protocol import BodyChunk, HttpResponseHead
from podtap.core.routing import (
    Action,
    CloseApp,
    CloseClient,
    Http1Router,
    Http2Router,
    OpenApp,
    RequestHead,
    RouteTable,
    SendToApp,
    SendToClient,
    ShutdownApp,
    ShutdownClient,
)
from podtap.core.subscriptions import PortPlan
from podtap.net.tasks import TaskSet

__all__ = ["FilteredConnection", "half_close"]  # half_close: tests reach it here


class FilteredConnection:
    def __init__(
        self,
        plan: PortPlan,
        reader: TappedReader,
        writer: asyncio.StreamWriter,
        *,
        peer: tuple[str, int],
        local: tuple[str, int],
        sessions: Callable[[SessionId], SessionHandler | None],
        stats: dict[str, int],
    ) -> None:
        self.table = RouteTable()
        for sub in plan.filtered:
            assert sub.compiled is not None
            self.table.add(sub.session, sub.compiled)
        self._stats = stats
        self.peer, self.local = peer, local
        self.router: Http1Router | Http2Router = self._router(http2=False)
        self._client_w = writer
        self._inbox = Inbox()
        self._client = ClientReader(
            reader,
            writer,
            table=self.table,
            peer=peer,
            local=local,
            stats=stats,
            submit=self._inbox.submit,
            until_room=self._client_room,
        )
        self._app: AppLink | None = None
        self.sides = Bridges(sessions=sessions, peer=peer, local=local, post=self._inbox.post)
        self._changed = asyncio.Event()
        self._tasks = TaskSet()
        self.done = asyncio.Event()

    async def run(self) -> None:
        self._tasks.spawn(self._client.run(), name=f"http {self.peer} client")
        self._tasks.spawn(self._credit_watch(), name=f"http {self.peer} credit")
        try:
            while not self.done.is_set():
                event, handled = await self._inbox.take()
                answer = await self._handle(event)
                if handled is not None and not handled.done():
                    handled.set_result(answer)
        finally:
            await self._close()

    # -- the sources' side: they wait here, and only post or submit ----------------------
    def drain(self) -> None:
        """Finish what was read, then close (the agent is unhooking the port)."""
        self._inbox.post(Drain())

    def stop_routing(self, session: SessionId) -> None:
        """Later requests of this connection no longer go to `session` (it unsubscribed);
        exchanges already with it finish normally. The table is read by whoever routes the
        next request (the router, or a fast-path turn), so it changes at once."""
        self.table.remove(session)

    async def _until(self, ready: Callable[[], bool]) -> None:
        while not ready() and not self.done.is_set():
            self._changed.clear()
            await self._changed.wait()

    async def _client_room(self) -> None:
        """Until the router takes client bytes and every session it sends to has room."""
        await self._until(lambda: not self.router.wants_client_pause())
        await self.sides.writable()

    async def _app_room(self) -> None:
        router = self.router
        await self._until(lambda: not router.wants_app_pause())

    def _owed(self) -> bool:
        return self.sides.owed(paused=self.router.wants_session_pause)

    async def _credit_watch(self) -> None:
        """Sessions get credit back for answer bytes once the client has taken them."""
        while not self.done.is_set():
            await self._until(self._owed)
            with contextlib.suppress(ConnectionError, OSError):
                await self._client_w.drain()
            await self._inbox.submit(GrantCredit())

    # -- the loop's side: events in, router, actions out -----------------------------------
    def _router(self, *, http2: bool) -> Http1Router | Http2Router:
        kind = Http2Router if http2 else Http1Router
        return kind(route=self._route, client_addr=self.peer[0])

    def _route(self, head: RequestHead) -> Hashable | None:
        """Who gets a request (the router asks once per request); counted for metrics."""
        route = self.table(head)
        self._stats["requests_passed" if route is None else "requests_routed"] += 1
        return route

    async def _handle(self, event: Event) -> bool:
        """One event: what it asks of the router, then the actions that returns. Only
        ClientBytes has an answer: True if its bytes go to the fast path instead."""
        if isinstance(event, ClientBytes) and event.leave is not Leave.NO:
            if self._may_leave(event):
                return True
        elif isinstance(event, GrantCredit):
            await self.sides.grant(paused=self.router.wants_session_pause)
            return False
        await self._perform(self._input(event))
        return False

    def _may_leave(self, event: ClientBytes) -> bool:
        """The fast path may take these bytes: the router is HTTP/1 with nothing in flight
        (after routing: it did route some), and no mirror copies them."""
        router = self.router
        if not (
            isinstance(router, Http1Router)
            and router.at_rest()
            and self._client.may_go_fast(event.data)
        ):
            return False
        if event.leave is Leave.AFTER_ROUTING:
            if not router.requests_started:
                return False
            self._close_app()
        return True

    def _input(self, event: Event) -> list[Action]:
        """Feed ``event`` to the router (or to this shell, for the few that are ours)."""
        router = self.router
        if isinstance(event, ClientBytes):
            return router.client_data(event.data) if event.data else router.client_eof()
        if isinstance(event, ClientAbort):
            return router.client_abort()
        if isinstance(event, AppBytes):
            if event.link is not self._app:
                return []  # a connection already closed: deliver nothing more from it
            return router.app_data(event.data) if event.data else router.app_eof()
        if isinstance(event, SessionReply | SessionBytes):
            return self._from_session(event)
        if isinstance(event, SessionEnded):
            self.sides.ended(event.session, stream=event.stream)
            self.table.remove(event.session)
            return router.session_gone(event.session)
        if isinstance(event, SessionGone):
            return router.session_gone(event.route)
        if isinstance(event, UseRouter):
            self.router = self._router(http2=event.http2)
        elif isinstance(event, Drain):
            if self._client.fast is not None:
                self._client.fast.drain()
                return []
            return router.drain()
        elif isinstance(event, Finish):
            self.done.set()
        return []

    def _from_session(self, event: SessionReply | SessionBytes) -> list[Action]:
        router, sid = self.router, event.session
        if isinstance(event, SessionBytes):
            self.sides.count(sid, stream=event.stream, size=len(event.data))
            if not isinstance(router, Http1Router):  # HTTP/2 has no upgrades here
                return []
            return (
                router.session_raw(sid, event.data) if event.data else router.session_raw_end(sid)
            )
        message = event.message
        if isinstance(message, HttpResponseHead):
            return router.session_response_head(
                sid, message.request, message.status, message.headers, message.reason
            )
        if isinstance(message, BodyChunk):
            self.sides.count(sid, stream=message.stream, size=len(message.data))
            return router.session_response_body(sid, message.request, message.data)
        return router.session_response_end(sid, message.request, message.trailers)

    async def _perform(self, actions: list[Action]) -> None:
        for action in actions:
            await self._do(action)
        await self.sides.sweep(live=self.router.session_routes())
        self._changed.set()
        if self.router.closed:
            self.done.set()

    async def _do(self, action: Action) -> None:
        if isinstance(action, SendToClient):
            self._client_w.write(action.data)
        elif isinstance(action, SendToApp):
            if self._app is not None:
                self._app.write(action.data)
        elif isinstance(action, OpenApp):
            self._close_app()
            self._app = AppLink(
                self.local,
                submit=self._inbox.submit,
                until_room=self._app_room,
                client=self._client_w,
            )
            self._app.start(name=f"http {self.peer} app")
        elif isinstance(action, CloseApp):
            self._close_app()
        elif isinstance(action, ShutdownApp):
            if self._app is not None:
                self._app.shutdown()
        elif isinstance(action, ShutdownClient):
            half_close(self._client_w)
        elif isinstance(action, CloseClient):
            self.done.set()
        elif isinstance(action, SessionAction):
            await self.sides.send(action, live=self.router.session_routes())

    def _close_app(self) -> None:
        if self._app is not None:
            self._app.close()
            self._app = None

    async def _close(self) -> None:
        with contextlib.suppress(ConnectionError, OSError, TimeoutError):
            await asyncio.wait_for(self._client_w.drain(), 5)
        self._client_w.close()
        self._close_app()
        await self.sides.close()
        self._tasks.cancel_all()
        await self._tasks.close()
