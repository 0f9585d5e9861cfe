"""One agent per target pod: started on first use, shared, stopped when unused."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import secrets
from collections.abc import Awaitable, Callable
from pathlib import Path

import aiohttp

from podtap import __version__
from podtap.backends.base import (
    AgentEndpoint,
    AgentStartFailed,
    ClusterBackend,
    ResolvedTarget,
)
from podtap.core.ids import SessionId
from podtap.core.protocol import (
    Close,
    CloseReason,
    Envelope,
    InitiatorHandshake,
    MalformedPayload,
    Payload,
    Ping,
    Pong,
)
from podtap.net.tasks import TaskSet
from podtap.net.wire import ConnectionClosed, WireConnection

log = logging.getLogger(__name__)
PodKey = tuple[str, str]  # namespace, pod
Deliver = Callable[[Payload], None]
AGENT_PATH = "/agent/v1/connect"
CONNECT_TIMEOUT = 20.0  # an agent that is up answers its WebSocket at once


class AgentLink:
    """The operator's connection to one agent, shared by every session on its pod."""

    def __init__(
        self,
        key: PodKey,
        endpoint: AgentEndpoint,
        wire: WireConnection,
        http: aiohttp.ClientSession,
    ) -> None:
        self.key = key
        self.endpoint = endpoint
        self.wire = wire
        self._http = http
        self.sessions: dict[SessionId, Deliver] = {}
        self.lost = asyncio.Event()
        self.lost_reason = ""
        self.stats: dict[str, int] = {}
        self.on_stats: Callable[[dict[str, int]], None] = lambda stats: None

    async def send(self, session: SessionId, payload: Payload) -> None:
        await self.wire.send(Envelope(session=session, message=payload))

    async def run(self) -> None:
        try:
            while True:
                try:
                    message = await self.wire.receive()
                except MalformedPayload as exc:  # one session's fault: end that one only
                    self._fault(SessionId(exc.session), str(exc))
                    continue
                if isinstance(message, Pong):
                    self.on_stats(message.stats)
                elif isinstance(message, Envelope):
                    deliver = self.sessions.get(message.session)
                    if deliver is not None:
                        deliver(message.message)
        except (ConnectionClosed, ConnectionError) as exc:
            self.lost_reason = str(exc) or "the agent closed the connection"
        finally:
            self.lost.set()

    def _fault(self, session: SessionId, error: str) -> None:
        """The agent sent a malformed message for ``session``: the relay ends that session
        (a ``Close`` from the agent); the link and every other session go on."""
        deliver = self.sessions.get(session)
        if deliver is not None:
            deliver(
                Close(
                    reason=CloseReason.AGENT_FAILED,
                    message=f"the agent sent a malformed frame: {error}",
                )
            )

    async def close(self) -> None:
        with contextlib.suppress(Exception):
            await self.wire.ws.close()
        await self._http.close()


class StaleAgent(Exception):
    """The agent answered 401 to the token: not one this operator can use."""

    def __init__(self, handle: str) -> None:
        self.handle = handle
        super().__init__(handle)


class AgentManager:
    def __init__(
        self,
        backend: ClusterBackend,
        *,
        run_dir: Path,
        grace: float = 5.0,
        on_lost: Callable[[AgentLink], Awaitable[None]],
        on_stats: Callable[[dict[str, int]], None] = lambda delta: None,
    ) -> None:
        self._on_stats = on_stats
        self._backend = backend
        self._run_dir = run_dir
        self._grace = grace
        self._on_lost = on_lost
        self.links: dict[PodKey, AgentLink] = {}
        self._starting: dict[PodKey, asyncio.Lock] = {}
        self._tasks = TaskSet()

    async def acquire(
        self, resolved: ResolvedTarget, session: SessionId, deliver: Deliver
    ) -> AgentLink:
        key = (resolved.namespace, resolved.pod.name)
        async with self._starting.setdefault(key, asyncio.Lock()):
            link = self.links.get(key)
            if link is None or link.lost.is_set():
                link = await self._start(key, resolved)
            link.sessions[session] = deliver
            return link

    async def _start(self, key: PodKey, resolved: ResolvedTarget) -> AgentLink:
        try:
            return await self._start_once(key, resolved)
        except StaleAgent as stale:
            # An agent adopted from an earlier operator that refuses our token (started
            # before tokens were derived, or under another key): it is gone; a new one.
            log.info("agent %s refused the token: starting a new one", stale.handle)
        try:
            return await self._start_once(key, resolved)
        except StaleAgent as again:
            raise AgentStartFailed(
                f"the agent for pod {key[0]}/{key[1]} ({again.handle}) refused the operator's "
                "token: it was not started by this operator"
            ) from None

    async def _start_once(self, key: PodKey, resolved: ResolvedTarget) -> AgentLink:
        self._run_dir.mkdir(parents=True, exist_ok=True)
        sock = self._run_dir / f"agent-{secrets.token_hex(4)}.sock"
        endpoint = await self._backend.start_agent(
            resolved, token=secrets.token_hex(24), socket_path=str(sock)
        )
        try:
            connector, base = await self._backend.agent_route(endpoint)
        except BaseException:
            await self._backend.stop_agent(endpoint)
            raise
        http = aiohttp.ClientSession(connector=connector)
        try:
            async with asyncio.timeout(CONNECT_TIMEOUT):
                ws = await http.ws_connect(
                    base + AGENT_PATH,
                    max_msg_size=0,
                    headers={"Authorization": f"Bearer {endpoint.token}"},
                )
                wire = WireConnection(ws, label=f"agent {key[0]}/{key[1]}", session_faults=True)
                await wire.initiate(InitiatorHandshake(name="podtap-operator", version=__version__))
        except BaseException as exc:
            await http.close()
            await self._backend.stop_agent(endpoint)
            if isinstance(exc, aiohttp.WSServerHandshakeError) and exc.status == 401:
                raise StaleAgent(endpoint.handle) from None
            if isinstance(exc, aiohttp.ClientError | OSError | TimeoutError | ConnectionClosed):
                raise AgentStartFailed(
                    f"the agent for pod {key[0]}/{key[1]} ({endpoint.handle}) started but did not "
                    f"answer at {endpoint.url}: {exc or type(exc).__name__}"
                ) from None
            raise
        link = AgentLink(key, endpoint, wire, http)

        def stats(now: dict[str, int]) -> None:
            delta = {k: v - link.stats.get(k, 0) for k, v in now.items()}
            link.stats = dict(now)
            self._on_stats(delta)

        link.on_stats = stats
        self.links[key] = link
        self._tasks.spawn(self._watch(link), name=f"agent {key[0]}/{key[1]}")
        log.info("agent for %s/%s started (%s)", *key, endpoint.handle)
        return link

    async def _watch(self, link: AgentLink) -> None:
        pinger = self._tasks.spawn(self._ping(link), name=f"agent ping {link.key}")
        await link.run()
        pinger.cancel()
        if self.links.get(link.key) is link:
            del self.links[link.key]
        await link.close()
        await self._backend.stop_agent(link.endpoint)
        if link.sessions:
            await self._on_lost(link)

    async def _ping(self, link: AgentLink) -> None:
        nonce = 0
        while not link.lost.is_set():
            await asyncio.sleep(3)
            nonce += 1
            with contextlib.suppress(ConnectionError, RuntimeError):
                await link.wire.send(Ping(nonce=nonce))

    def release(self, link: AgentLink, session: SessionId) -> None:
        link.sessions.pop(session, None)
        if not link.sessions:
            self._tasks.spawn(self._stop_if_idle(link), name=f"agent idle {link.key}")

    async def _stop_if_idle(self, link: AgentLink) -> None:
        await asyncio.sleep(self._grace)
        if not link.sessions and self.links.get(link.key) is link:
            del self.links[link.key]
            log.info("agent for %s/%s unused: stopping", *link.key)
            await link.close()
            await self._backend.stop_agent(link.endpoint)

    async def close(self) -> None:
        for link in list(self.links.values()):
            await link.close()
            await self._backend.stop_agent(link.endpoint)
        self.links.clear()
        await self._tasks.close()
