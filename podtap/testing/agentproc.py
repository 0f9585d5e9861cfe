"""Starting a real agent process and talking to it as the operator does, for tests."""

from __future__ import annotations

import asyncio
import dataclasses
import json
import os
import secrets
import signal
import subprocess
import sys
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from pathlib import Path
from typing import TypeVar

import aiohttp

from podtap.core.ids import SessionId, new_session_id
from podtap.core.protocol import (
    DEFAULT_WINDOW,
    BodyChunk,
    Data,
    Envelope,
    IncomingMode,
    InitiatorHandshake,
    NewConnection,
    Payload,
    StreamClose,
    WindowUpdate,
)
from podtap.net.tasks import TaskSet
from podtap.net.wire import WireConnection

T = TypeVar("T")
CONNECT = "http://agent/agent/v1/connect"


class AgentProcess:
    def __init__(self, *, pid: int, socket_path: Path, idle_exit: float = 30) -> None:
        self.token = secrets.token_hex(16)
        self.socket_path = socket_path
        self.proc = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "podtap",
                "agent",
                "--pid",
                str(pid),
                "--listen",
                f"unix:{socket_path}",
                "--idle-exit",
                str(idle_exit),
            ],
            env={**os.environ, "PODTAP_AGENT_TOKEN": self.token},
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        assert self.proc.stdout is not None
        line = self.proc.stdout.readline()
        if not line:
            raise AssertionError(f"agent failed to start: {self.proc.stderr.read()}")  # type: ignore[union-attr]
        self.ready = json.loads(line)

    def kill(self, sig: int = signal.SIGKILL) -> None:
        if self.proc.poll() is None:
            self.proc.send_signal(sig)
        self.proc.wait(timeout=20)

    def stderr(self) -> str:
        assert self.proc.stderr is not None
        return self.proc.stderr.read()


class SessionPeer:
    """One session's end of the protocol (as the operator relays it to an agent, or as a
    client talks to the operator): send payloads, await replies, respect windows."""

    def __init__(self, send: Callable[[Payload], Awaitable[None]]) -> None:
        self._send = send
        self.inbox: asyncio.Queue[Payload] = asyncio.Queue()
        self._window: dict[int, int] = {}
        self._credit = asyncio.Event()

    def on_window(self, update: WindowUpdate) -> None:
        self._window[update.stream] = (
            self._window.get(update.stream, DEFAULT_WINDOW) + update.credit
        )
        self._credit.set()

    async def send_flow(self, message: BodyChunk | Data) -> None:
        """Send stream data within the agent's window for that stream (waits for credit)."""
        data = message.data
        while data:
            while self._window.get(message.stream, DEFAULT_WINDOW) <= 0:
                self._credit.clear()
                await self._credit.wait()
            room = self._window.get(message.stream, DEFAULT_WINDOW)
            piece, data = data[:room], data[room:]
            self._window[message.stream] = room - len(piece)
            await self.send(dataclasses.replace(message, data=piece))

    async def send(self, payload: Payload) -> None:
        await self._send(payload)

    def receive(self, message: Payload) -> None:
        """Deliver a frame from the other side."""
        if isinstance(message, WindowUpdate):
            self.on_window(message)
        else:
            self.inbox.put_nowait(message)

    async def expect(self, kind: type[T], *, timeout: float = 10) -> T:
        """The next message of `kind`; returns credit for data it skips past."""
        async with asyncio.timeout(timeout):
            while True:
                msg = await self.inbox.get()
                if isinstance(msg, kind):
                    return msg
                size = len(getattr(msg, "data", b"") or b"")
                if size and hasattr(msg, "stream"):
                    await self.send(WindowUpdate(stream=msg.stream, credit=size))

    async def first_request(
        self, mode: IncomingMode, *, port: int = 8080, timeout: float = 10
    ) -> tuple[NewConnection, bytes]:
        """The first incoming connection that carries bytes, and its first bytes.

        A node's TCP readiness probe reaches the pod like any client, so it is stolen or
        mirrored too: it opens and closes without a byte (its end arrives as an empty
        `Data`, the half-close), and is skipped here.
        """
        opened: dict[int, NewConnection] = {}
        async with asyncio.timeout(timeout):
            while True:
                msg = await self.inbox.get()
                if isinstance(msg, NewConnection):
                    opened[msg.stream] = msg
                elif isinstance(msg, StreamClose):
                    opened.pop(msg.stream, None)
                elif isinstance(msg, Data) and msg.data and msg.stream in opened:
                    conn = opened[msg.stream]
                    if conn.mode != mode or conn.port != port:
                        raise AssertionError(f"expected a {mode} connection to {port}: {conn}")
                    return conn, msg.data

    async def credit(self, stream: int, size: int) -> None:
        await self.send(WindowUpdate(stream=stream, credit=size))  # type: ignore[arg-type]


class AgentLink:
    def __init__(self, wire: WireConnection) -> None:
        self.wire = wire
        self.peers: dict[SessionId, SessionPeer] = {}

    def session(self) -> SessionPeer:
        sid = new_session_id()

        async def send(payload: Payload) -> None:
            await self.wire.send(Envelope(session=sid, message=payload))

        peer = SessionPeer(send)
        self.peers[sid] = peer
        return peer

    async def pump(self) -> None:
        while True:
            msg = await self.wire.receive()
            if isinstance(msg, Envelope) and msg.session in self.peers:
                self.peers[msg.session].receive(msg.message)


@asynccontextmanager
async def agent_link(agent: AgentProcess, *, token: str | None = None) -> AsyncIterator[AgentLink]:
    connector = aiohttp.UnixConnector(path=str(agent.socket_path))
    async with (
        aiohttp.ClientSession(connector=connector) as http,
        http.ws_connect(
            CONNECT, headers={"Authorization": f"Bearer {token or agent.token}"}, max_msg_size=0
        ) as ws,
    ):
        wire = WireConnection(ws, label="agent")
        await wire.initiate(InitiatorHandshake(name="test-operator", version="0"))
        link = AgentLink(wire)
        tasks = TaskSet()
        tasks.spawn(link.pump(), name="test agent pump")
        try:
            yield link
        finally:
            await tasks.close()
