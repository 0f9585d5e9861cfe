"""A session client for tests: talks to the operator exactly as `podtap exec` will."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from podtap.client.host.operator_api import ClientSession, OperatorAddress, OperatorApi
from podtap.core.ids import SessionId
from podtap.core.protocol import Close, CloseReason, Envelope
from podtap.net.tasks import TaskSet
from podtap.net.wire import ConnectionClosed
from podtap.testing.agentproc import SessionPeer


@asynccontextmanager
async def operator_session(
    address: OperatorAddress,
    target: str,
    *,
    namespace: str = "default",
    resume: SessionId | None = None,
    on_concurrent_steal: str = "abort",
) -> AsyncIterator[tuple[ClientSession, SessionPeer]]:
    """A connected session; frames from the operator land in the peer's inbox, a Close
    (or the end of the connection) as a Close message."""
    api = OperatorApi(address)
    async with api.connect(
        target, namespace=namespace, resume=resume, on_concurrent_steal=on_concurrent_steal
    ) as session:
        peer = SessionPeer(session.wire.send)

        async def pump() -> None:
            try:
                while True:
                    message = await session.wire.receive()
                    if not isinstance(message, Envelope):
                        peer.receive(message)
            except (ConnectionClosed, ConnectionError) as exc:
                close = getattr(exc, "close", None)
                peer.inbox.put_nowait(
                    close or Close(reason=CloseReason.OTHER, message="connection closed")
                )

        tasks = TaskSet()
        tasks.spawn(pump(), name=f"session {session.label} pump")
        try:
            yield session, peer
        finally:
            await tasks.close()
