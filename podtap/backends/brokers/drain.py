"""Draining a split's queue back: every message still in ``source`` moved into ``into``.

When a split ends, each temporary queue and the fallback queue are drained back into the
original queue, so that nothing a session or the workload had not consumed is lost; then
they can be deleted. Each batch is published before it is acked (at-least-once, as the
forwarder). The drain ends when a receive finds nothing and the broker says the queue is
empty (on SQS that includes messages in flight, which come back when their visibility
ends), or at ``timeout``: the result then says how many remain. A broker that goes away
meanwhile is reconnected to until the deadline. An SQS FIFO message gets a deduplication
id of its own on the way back: the original queue saw its first one, and would drop it.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import time
from dataclasses import dataclass

from podtap.backends.brokers.base import BrokerClient, BrokerError, Delivery, Outgoing

__all__ = ["DrainResult", "drain"]


@dataclass(frozen=True, slots=True)
class DrainResult:
    moved: int
    remaining: int | None
    complete: bool
    last_error: str | None = None


def _back(delivery: Delivery) -> Outgoing:
    out = delivery.outgoing
    if "MessageDeduplicationId" in out.properties and delivery.id is not None:
        properties = {**out.properties, "MessageDeduplicationId": f"{delivery.id}-back"}
        return dataclasses.replace(out, properties=properties)
    return out


async def drain(
    client: BrokerClient,
    *,
    source: str,
    into: str,
    timeout: float,
    group: str | None = None,
    batch: int = 100,
    idle: float = 1.0,
) -> DrainResult:
    """Move ``source``'s messages into ``into`` (``group``: Kafka's consumer group whose
    committed offset says what of ``source`` was consumed already). ``client`` must be
    connected; it stays so."""
    deadline = time.monotonic() + timeout
    moved, error, backoff = 0, None, 0.1
    while time.monotonic() < deadline:
        try:
            got = await client.receive(source, max_messages=batch, wait=idle, group=group)
            if not got:
                left = await client.depth(source, group=group)
                if not left:
                    return DrainResult(moved, left, complete=True)
                continue
            await client.publish(into, [_back(d) for d in got])
            await client.ack(got)
            moved += len(got)
            backoff = 0.1
        except BrokerError as exc:
            error = str(exc)
            await asyncio.sleep(min(backoff, max(0.0, deadline - time.monotonic())))
            backoff = min(5.0, backoff * 2)
            with contextlib.suppress(BrokerError):
                await client.connect()
    with contextlib.suppress(BrokerError):
        return DrainResult(moved, await client.depth(source, group=group), False, error)
    return DrainResult(moved, None, complete=False, last_error=error)
