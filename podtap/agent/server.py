"""The agent process: joins the target's network namespace, serves the operator."""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import hmac
import json
import logging
import signal
import socket
import sys
from dataclasses import dataclass
from pathlib import Path

from aiohttp import web

from podtap import __version__
from podtap.agent.incoming import IncomingTraffic
from podtap.agent.session import SessionHandler
from podtap.core.ids import SessionId, format_session_id
from podtap.core.protocol import (
    AcceptorHandshake,
    Close,
    CloseReason,
    Envelope,
    HandshakeError,
    MalformedPayload,
    Payload,
    Ping,
    Pong,
    ProtocolError,
    Subscribe,
    Unsubscribe,
    refuse_if_invalid,
)
from podtap.net.tasks import spawn
from podtap.net.wire import ConnectionClosed, WireConnection

log = logging.getLogger("podtap.agent")
CONNECT_PATH = "/agent/v1/connect"


@dataclass(frozen=True, kw_only=True)
class AgentSettings:
    target_pid: int
    listen: str  # "unix:/path" or "HOST:PORT"
    #: the SHA-256 (hex) of the operator's bearer token: the token itself is kept nowhere
    #: here, so an agent pod's spec, which anyone who may read pods sees, cannot give it away
    token_sha256: str
    idle_exit: float = 10.0
    drain: float = 5.0


class Agent:
    def __init__(self, settings: AgentSettings) -> None:
        self.settings = settings
        self.sessions: dict[SessionId, SessionHandler] = {}
        self.incoming = IncomingTraffic(session=self.sessions.get)
        self.links = 0
        self._idle = asyncio.Event()
        self._busy = asyncio.Event()
        self.sockets: set[web.WebSocketResponse] = set()
        self.stop = asyncio.Event()

    async def connect(self, request: web.Request) -> web.StreamResponse:
        given = request.headers.get("Authorization", "").removeprefix("Bearer ")
        digest = hashlib.sha256(given.encode()).hexdigest()
        if not hmac.compare_digest(digest, self.settings.token_sha256):
            return web.json_response({"error": "a valid agent token is required"}, status=401)
        ws = web.WebSocketResponse(max_msg_size=32 * 1024 * 1024, heartbeat=None)
        await ws.prepare(request)
        self.sockets.add(ws)
        wire = WireConnection(ws, label="operator", session_faults=True)
        self.links += 1
        self._idle.clear()
        self._busy.set()
        mine: set[SessionId] = set()
        try:
            await wire.accept(AcceptorHandshake(name="podtap-agent", version=__version__))
            await self._serve(wire, mine)
        except (ConnectionClosed, HandshakeError, ConnectionError) as exc:
            log.info("operator connection ended: %s", exc)
        finally:
            for sid in mine:
                handler = self.sessions.pop(sid, None)
                if handler is not None:
                    await self.end_session(handler)
            self.sockets.discard(ws)
            self.links -= 1
            if self.links == 0:
                self._busy.clear()
                self._idle.set()
        return ws

    async def _serve(self, wire: WireConnection, mine: set[SessionId]) -> None:
        faulted: set[SessionId] = set()
        while True:
            try:
                message = await wire.receive()
            except MalformedPayload as exc:
                sid = SessionId(exc.session)
                await self._fault(wire, sid, exc.close_frame(), mine=mine, faulted=faulted)
                continue
            if isinstance(message, Ping):
                await wire.send(Pong(nonce=message.nonce, stats=dict(self.incoming.stats)))
            elif isinstance(message, Envelope):
                if message.session in faulted:
                    if isinstance(message.message, Close):  # the operator let go of it
                        faulted.discard(message.session)
                    continue  # in flight when it ended: must not start it again
                await self._deliver(wire, message, mine=mine, faulted=faulted)

    async def _deliver(
        self,
        wire: WireConnection,
        message: Envelope,
        *,
        mine: set[SessionId],
        faulted: set[SessionId],
    ) -> None:
        """One session's frame to its handler. Whatever that frame breaks ends that session
        only: the link is shared by every session on the pod."""
        sid = message.session
        handler = self.sessions.get(sid)
        if handler is None:
            handler = self._new_session(wire, sid)
            mine.add(sid)
        try:
            await self._dispatch(handler, message.message)
        except ConnectionError:
            raise  # the link itself is gone
        except ProtocolError as exc:
            await self._fault(wire, sid, exc.close_frame(), mine=mine, faulted=faulted)
            return
        except Exception as exc:
            log.exception("session %s: serving %s failed", handler.label, type(message.message))
            close = Close(
                reason=CloseReason.AGENT_FAILED,
                message=f"the agent failed serving this session: {exc}",
            )
            await self._fault(wire, sid, close, mine=mine, faulted=faulted)
            return
        if handler.closed:
            self.sessions.pop(sid, None)
            mine.discard(sid)

    async def _dispatch(self, handler: SessionHandler, message: Payload) -> None:
        """A session's frame to the room it concerns: a request whose fields cannot be
        served is answered with its refusal; subscriptions are the incoming side's; the
        end of the session is ours; everything else is the session's own."""
        refused = refuse_if_invalid(message)
        if refused is not None:
            await handler.send(refused)
        elif isinstance(message, Subscribe):
            await handler.send(await self.incoming.subscribe(handler.session, message))
        elif isinstance(message, Unsubscribe):
            await self.incoming.unsubscribe(handler.session, message.port)
        elif isinstance(message, Close):
            await self.end_session(handler)
        else:
            await handler.handle(message)

    async def end_session(self, handler: SessionHandler) -> None:
        """End a session: its ports and routes go first, so no new connection comes to
        it while its streams close."""
        if handler.closed:
            return
        await self.incoming.remove_session(handler.session)
        await handler.close()

    async def _fault(
        self,
        wire: WireConnection,
        sid: SessionId,
        close: Close,
        *,
        mine: set[SessionId],
        faulted: set[SessionId],
    ) -> None:
        """End one session for a frame it should not have sent, telling it why; its frames
        still in flight are ignored until the operator's Close for it."""
        log.warning("session %s ended: %s", format_session_id(sid), close.message)
        faulted.add(sid)
        mine.discard(sid)
        await wire.send(Envelope(session=sid, message=close))
        handler = self.sessions.pop(sid, None)
        if handler is not None:
            await self.end_session(handler)

    def _new_session(self, wire: WireConnection, sid: SessionId) -> SessionHandler:
        async def send(payload: object) -> None:
            await wire.send(Envelope(session=sid, message=payload))  # type: ignore[arg-type]

        handler = SessionHandler(sid, send=send, target_pid=self.settings.target_pid)
        self.sessions[sid] = handler
        return handler

    async def watch_idle(self) -> None:
        """Exit once no operator has been connected for `idle_exit` seconds."""
        while not self.stop.is_set():
            if self.links == 0:
                try:
                    await asyncio.wait_for(self._busy.wait(), self.settings.idle_exit)
                except TimeoutError:
                    log.info("no operator for %.0f s: exiting", self.settings.idle_exit)
                    self.stop.set()
                    return
            await self._idle.wait()


def bind_listener(listen: str) -> socket.socket:
    """The operator's listening socket for `listen`, bound where the caller is now: the agent
    binds it before it joins the target's network namespace, so a TCP port is opened in its
    own pod, never in the target (where steal rules would catch it), and stays there."""
    if listen.startswith("unix:"):
        path = listen.removeprefix("unix:")
        with contextlib.suppress(FileNotFoundError):
            Path(path).unlink()
        sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        sock.bind(path)
    else:
        host, _, port = listen.rpartition(":")
        sock = socket.socket(socket.AF_INET6 if ":" in host else socket.AF_INET)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind((host.strip("[]") or "0.0.0.0", int(port)))
    sock.listen(128)
    sock.setblocking(False)
    return sock


async def serve(settings: AgentSettings, *, listener: socket.socket) -> None:
    agent = Agent(settings)
    await agent.incoming.start()
    app = web.Application()
    app.router.add_get(CONNECT_PATH, agent.connect)
    runner = web.AppRunner(app, handle_signals=False, access_log=None)
    await runner.setup()
    site = web.SockSite(runner, listener)
    await site.start()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, agent.stop.set)
    idle = spawn(agent.watch_idle(), name="agent idle watch")
    print(json.dumps({"ready": True, "redirect_port": agent.incoming.listen_port}), flush=True)
    try:
        await agent.stop.wait()
    finally:
        idle.cancel()
        log.info("agent stopping: unhooking ports, draining connections")
        await agent.incoming.close()
        for handler in list(agent.sessions.values()):
            await agent.end_session(handler)
        for ws in list(agent.sockets):  # the operator sees the agent leave
            await ws.close(code=1001, message=b"agent stopping")
        await runner.cleanup()


def run(settings: AgentSettings, *, netns: str | None = None) -> None:
    """Bind the operator's listener here, join the target's network namespace (before any
    thread starts), then serve."""
    from podtap.net.namespaces import join_netns

    listener = bind_listener(settings.listen)
    join_netns(netns or f"/proc/{settings.target_pid}/ns/net")
    logging.basicConfig(
        level=logging.INFO, stream=sys.stderr, format="%(asctime)s agent %(levelname)s %(message)s"
    )
    # uvloop's C event loop: the pass-through relay of teammates' traffic runs about 30%
    # faster on it (bench/agent_passthrough.py); plain asyncio works too
    try:
        import uvloop
    except ImportError:
        asyncio.run(serve(settings, listener=listener))
    else:
        uvloop.run(serve(settings, listener=listener))
