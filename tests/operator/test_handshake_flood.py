"""Connections that never say hello cost the operator nothing lasting: no session record,
no audit event, dropped at the handshake deadline, and /healthz stays fast throughout."""

from __future__ import annotations

import asyncio
import threading
from pathlib import Path

from podtap.client.host.operator_api import OperatorAddress
from podtap.core.lifecycle import Limits
from podtap.core.protocol import Close, CloseReason
from podtap.net.tasks import TaskSet
from podtap.testing.opclient import operator_session
from tests.operator.inproc import audit_events, get, operator

FLOOD = 1000
HANDSHAKE_DEADLINE = 2.0
UPGRADE = (
    b"GET /apis/operator.podtap.dev/v1/proxy/namespaces/default/targets/deployment.web HTTP/1.1\r\n"
    b"Host: operator\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
    b"Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n"
)


class HealthProbe:
    """Asks /healthz over and over from a thread; keeps the slowest answer."""

    def __init__(self, sock: Path) -> None:
        self.sock = sock
        self.slowest = 0.0
        self.answers = 0
        self.stop = threading.Event()

    def run(self) -> None:
        while not self.stop.wait(0.02):
            took, body = get(self.sock, "/healthz")
            assert body == {"ok": True}
            self.slowest = max(self.slowest, took)
            self.answers += 1


Connection = tuple[asyncio.StreamReader, asyncio.StreamWriter]


async def silent_client(sock: Path, *, connecting: asyncio.Semaphore) -> Connection:
    """A WebSocket upgrade that never sends the hello (a few connect at once: the listen
    backlog is not what this test is about)."""
    async with connecting:
        reader, writer = await asyncio.open_unix_connection(str(sock))
        writer.write(UPGRADE)
        head = await reader.readuntil(b"\r\n\r\n")
    assert head.startswith(b"HTTP/1.1 101"), head
    return reader, writer


async def dropped(connection: Connection) -> None:
    """Once the operator has closed the connection, closes our end."""
    reader, writer = connection
    while await reader.read(65536):
        pass
    writer.close()
    await writer.wait_closed()


def session_starts(events: list[dict[str, object]]) -> list[dict[str, object]]:
    return [e for e in events if e["event"] == "session_start"]


def test_connects_without_hello_leave_no_record_and_healthz_stays_fast(tmp_path: Path) -> None:
    limits = Limits(handshake_deadline=HANDSHAKE_DEADLINE, setup_deadline=1.0)

    async def go() -> None:
        async with operator(tmp_path, limits=limits) as (service, sock):
            probe, tasks = HealthProbe(sock), TaskSet()
            probing = tasks.spawn(asyncio.to_thread(probe.run), name="healthz probe")
            try:
                connecting = asyncio.Semaphore(50)
                connections = await asyncio.gather(
                    *(silent_client(sock, connecting=connecting) for _ in range(FLOOD))
                )
                _, listed = await asyncio.to_thread(
                    get, sock, "/apis/operator.podtap.dev/v1/sessions"
                )
                assert listed["items"] == []
                async with asyncio.timeout(HANDSHAKE_DEADLINE + 10):
                    await asyncio.gather(*(dropped(c) for c in connections))
            finally:
                probe.stop.set()
                await probing
            assert probe.answers > 10
            assert probe.slowest < 2.0, f"/healthz took {probe.slowest:.2f} s under the flood"
            assert service.records == {}
            assert session_starts(audit_events(service)) == []

    asyncio.run(go())


def test_the_hello_creates_the_record(tmp_path: Path) -> None:
    async def go() -> None:
        async with operator(tmp_path) as (service, sock):
            address = OperatorAddress(f"unix:{sock}")
            async with operator_session(address, "deployment/web") as (session, peer):
                close = await peer.expect(Close)
                assert close.reason == CloseReason.AGENT_FAILED  # the fake cluster has none
            starts = session_starts(audit_events(service))
            assert [e["session"] for e in starts] == [session.label]

    asyncio.run(go())
