"""An agent in the test's own process, for the in-memory cluster (`fakebackend`).

It is the real agent's outside: the same WebSocket path on a Unix socket, the same token
check (401 without it) and handshake, one `Envelope` per session frame, a `Pong` with the
traffic counters for every `Ping`, a malformed frame ending only its session, and the
sockets closed with 1001 when it stops. Inside, there is no pod to enter: each session
is served from the fake pod (`fakesession.FakeSession`), and incoming traffic has no
redirect behind it. Subscriptions go into the real agent's port table
(`core.subscriptions.PortTable`), and a test injects a connection (`connection`) or an
HTTP request (`request`) that the table routes as the real agent would: to the session
stealing the whole port, or to the first filtered steal whose filter matches."""

from __future__ import annotations

import contextlib
import hmac
from pathlib import Path

from aiohttp import web

from podtap import __version__
from podtap.core.ids import Port, RequestId, SessionId, StreamId
from podtap.core.protocol import (
    AcceptorHandshake,
    BodyChunk,
    BodyEnd,
    Envelope,
    Headers,
    HttpRequestHead,
    IncomingMode,
    MalformedPayload,
    NewConnection,
    Payload,
    Ping,
    Pong,
    ProtocolError,
)
from podtap.core.routing.matcher import RequestHead
from podtap.net.wire import ConnectionClosed, WireConnection
from podtap.testing.fakesession import FakeConnection, FakeExchange, FakeSession, PodSide

PEER = ("10.244.0.1", Port(40000))  # where injected connections come from
#: podtap.agent.server.CONNECT_PATH (not imported: the fake must not need the agent's
#: kernel-facing modules; tests/backends/test_fake_agent.py checks they agree)
CONNECT_PATH = "/agent/v1/connect"


class FakeAgent:
    def __init__(self, *, token: str, pod: PodSide, address: str) -> None:
        self.token = token
        self.pod = pod
        self.address = address  # the pod's IP: the local end of injected connections
        self.sessions: dict[SessionId, FakeSession] = {}
        self.stats = dict.fromkeys(("connections_stolen", "connections_mirrored"), 0)
        self.stats |= dict.fromkeys(("requests_routed", "requests_passed"), 0)
        self.sockets: set[web.WebSocketResponse] = set()
        self._runner: web.AppRunner | None = None
        self._peer_port = PEER[1]

    async def start(self, socket_path: str) -> None:
        app = web.Application()
        app.router.add_get(CONNECT_PATH, self._connect)
        self._runner = web.AppRunner(app, handle_signals=False, access_log=None)
        await self._runner.setup()
        with contextlib.suppress(FileNotFoundError):
            Path(socket_path).unlink()
        await web.UnixSite(self._runner, socket_path).start()

    async def stop(self) -> None:
        """As the real agent stops: sessions end, operators see the socket close."""
        for session in list(self.sessions.values()):
            await session.close()
        for ws in list(self.sockets):
            await ws.close(code=1001, message=b"agent stopping")
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None

    @property
    def running(self) -> bool:
        return self._runner is not None

    # -- the operator's side -------------------------------------------------------------
    async def _connect(self, request: web.Request) -> web.StreamResponse:
        given = request.headers.get("Authorization", "").removeprefix("Bearer ")
        if not hmac.compare_digest(given.encode(), self.token.encode()):
            return web.json_response({"error": "a valid agent token is required"}, status=401)
        ws = web.WebSocketResponse(max_msg_size=32 * 1024 * 1024, heartbeat=None)
        await ws.prepare(request)
        self.sockets.add(ws)
        wire = WireConnection(ws, label="operator", session_faults=True)
        mine: set[SessionId] = set()
        try:
            await wire.accept(AcceptorHandshake(name="podtap-agent", version=__version__))
            await self._serve(wire, mine)
        except (ConnectionClosed, ProtocolError, ConnectionError):
            pass  # the operator went away (or broke the handshake): its sessions end
        finally:
            for sid in mine:
                session = self.sessions.pop(sid, None)
                if session is not None:
                    await session.close()
            self.sockets.discard(ws)
        return ws

    async def _serve(self, wire: WireConnection, mine: set[SessionId]) -> None:
        while True:
            try:
                message = await wire.receive()
            except MalformedPayload as exc:  # that session's fault only
                sid = SessionId(exc.session)
                await wire.send(Envelope(session=sid, message=exc.close_frame()))
                session = self.sessions.pop(sid, None)
                if session is not None:
                    await session.close()
                continue
            if isinstance(message, Ping):
                await wire.send(Pong(nonce=message.nonce, stats=dict(self.stats)))
            elif isinstance(message, Envelope):
                session = self.sessions.get(message.session)
                if session is None:
                    session = self._new_session(wire, message.session)
                    mine.add(message.session)
                try:
                    await session.handle(message.message)
                except ProtocolError as exc:
                    await wire.send(Envelope(session=message.session, message=exc.close_frame()))
                    await session.close()
                if session.closed:
                    self.sessions.pop(message.session, None)
                    mine.discard(message.session)

    def _new_session(self, wire: WireConnection, sid: SessionId) -> FakeSession:
        async def send(payload: Payload) -> None:
            await wire.send(Envelope(session=sid, message=payload))

        session = FakeSession(sid, send=send, pod=self.pod)
        self.sessions[sid] = session
        return session

    # -- the test's side: traffic into the pod --------------------------------------------
    async def _announce(self, session: FakeSession, port: int, mode: IncomingMode) -> StreamId:
        stream = session.stream_ids.next()
        self._peer_port = Port(self._peer_port + 1)
        await session.send(
            NewConnection(
                stream=stream,
                port=Port(port),
                remote_addr=PEER[0],
                remote_port=self._peer_port,
                local_addr=self.address,
                local_port=Port(port),
                mode=mode,
            )
        )
        return stream

    async def connection(self, port: int, data: bytes = b"") -> FakeConnection | None:
        """A client connects to `port` of the pod and sends `data`: the session stealing
        the whole port gets it (returned, to read its answer), mirrors get a copy. None
        when no session steals it whole (the app would answer)."""
        plan = self.pod.table.plan(Port(port))
        for sid in plan.mirrors:
            if (mirror := self.sessions.get(sid)) is not None:
                copy = FakeConnection(
                    mirror, await self._announce(mirror, port, IncomingMode.MIRROR)
                )
                mirror.open_stream(copy.stream, copy)
                if data:
                    await copy.write(data)
                self.stats["connections_mirrored"] += 1
        thief = self.sessions.get(plan.steal_all) if plan.steal_all is not None else None
        if thief is None:
            return None
        conn = FakeConnection(thief, await self._announce(thief, port, IncomingMode.STEAL))
        thief.open_stream(conn.stream, conn)
        self.stats["connections_stolen"] += 1
        if data:
            await conn.write(data)
        return conn

    async def request(
        self, port: int, method: str, path: str, headers: Headers = (), body: bytes = b""
    ) -> FakeExchange | None:
        """An HTTP/1.1 request to `port`: the first filtered steal (oldest first) whose filter
        matches gets it; the returned exchange holds its answer once `done` is set. None
        when no filter matches (the app would answer)."""
        head = RequestHead(method, path, headers)
        plan = self.pod.table.plan(Port(port))
        chosen = next((s for s in plan.filtered if s.compiled and s.compiled.matches(head)), None)
        session = self.sessions.get(chosen.session) if chosen is not None else None
        if session is None:
            self.stats["requests_passed"] += 1
            return None
        exchange = FakeExchange(session, await self._announce(session, port, IncomingMode.STEAL))
        session.open_stream(exchange.stream, exchange)
        request = RequestId(1)
        await session.send(
            HttpRequestHead(
                stream=exchange.stream,
                request=request,
                method=method,
                path=path,
                http_version="1.1",
                headers=headers,
            )
        )
        if body:
            await session.wait_writable(exchange.stream)
            await session.send_stream(BodyChunk(stream=exchange.stream, request=request, data=body))
        await session.send_stream(BodyEnd(stream=exchange.stream, request=request))
        self.stats["requests_routed"] += 1
        return exchange

    def subscribed(self) -> dict[int, list[tuple[SessionId, IncomingMode]]]:
        """Port -> (session, mode) of every subscription the agent holds now."""
        table = self.pod.table
        return {p: [(s.session, s.mode) for s in table.subscriptions(p)] for p in table.ports()}
