"""An in-memory broker behind :class:`~podtap.backends.brokers.base.BrokerClient`, with the
faults the forwarder must survive, so its logic is tested without a real broker.

Queues hold :class:`Outgoing` messages (headers as text pairs, what filters see); a
message's id is its ``message_id`` property, else one drawn when published, as RabbitMQ's
and SQS's are. Deliveries not acked go back to the front of their queue, marked
redelivered, when the connection drops: :meth:`FakeBroker.drop`, or the faults armed with
``cut_after_publish`` (the broker stores a batch, then the connection breaks before the
confirmation: the publisher cannot know it arrived) and ``cut_before_ack`` (the next acks
are lost with the connection).
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
from collections import deque
from collections.abc import Sequence
from dataclasses import dataclass, field

from podtap.backends.brokers.base import BrokerError, BrokerUnavailable, Delivery, Outgoing
from podtap.core.queues import Message, QueueKind

__all__ = ["FakeBroker", "FakeBrokerClient"]


@dataclass
class _Stored:
    id: str
    message: Outgoing
    redelivered: bool = False


@dataclass
class FakeBroker:
    queues: dict[str, deque[_Stored]] = field(default_factory=dict)
    up: bool = True
    cut_after_publish: int = 0
    cut_before_ack: int = 0
    generation: int = 0
    _unacked: dict[int, tuple[str, _Stored]] = field(default_factory=dict)
    _ids: itertools.count[int] = field(default_factory=itertools.count)
    _arrived: asyncio.Event = field(default_factory=asyncio.Event)

    def client(self) -> FakeBrokerClient:
        return FakeBrokerClient(self)

    def bodies(self, queue: str) -> list[bytes]:
        return [s.message.body for s in self.queues[queue]]

    def drop(self) -> None:
        """The connection breaks: every unacked delivery goes back, redelivered."""
        self.generation += 1
        for queue, stored in reversed(list(self._unacked.values())):
            stored.redelivered = True
            self.queues[queue].appendleft(stored)
        self._unacked.clear()


class FakeBrokerClient:
    kind = QueueKind.RMQ
    address = "fake-broker"

    def __init__(self, broker: FakeBroker) -> None:
        self.broker = broker
        self.generation: int | None = None

    def _live(self) -> FakeBroker:
        if self.generation != self.broker.generation or not self.broker.up:
            raise BrokerUnavailable("cannot reach fake-broker: the connection dropped")
        return self.broker

    def _queue(self, name: str) -> deque[_Stored]:
        if name not in self._live().queues:
            raise BrokerError(f"fake-broker has no queue {name}")
        return self.broker.queues[name]

    async def connect(self) -> None:
        if not self.broker.up:
            raise BrokerUnavailable("cannot reach fake-broker: check that it runs")
        self.generation = self.broker.generation

    async def close(self) -> None:
        self.generation = None

    async def create_queue(self, name: str, *, like: str | None = None) -> None:
        self._live().queues.setdefault(name, deque())

    async def delete_queue(self, name: str) -> None:
        self._live().queues.pop(name, None)

    async def receive(
        self, queue: str, *, max_messages: int, wait: float, group: str | None = None
    ) -> list[Delivery]:
        held = self._queue(queue)
        if not held:  # a long poll: until something is published, or ``wait``
            self.broker._arrived.clear()
            with contextlib.suppress(asyncio.TimeoutError):
                await asyncio.wait_for(self.broker._arrived.wait(), timeout=wait)
            held = self._queue(queue)
        out: list[Delivery] = []
        while held and len(out) < max_messages:
            stored = held.popleft()
            tag = next(self.broker._ids)
            self.broker._unacked[tag] = (queue, stored)
            texts = {k: str(v) for k, v in stored.message.headers}
            message = Message(texts, stored.message.body)
            out.append(Delivery(queue, stored.id, message, stored.message, stored.redelivered, tag))
        return out

    async def ack(self, deliveries: Sequence[Delivery]) -> None:
        broker = self._live()
        if broker.cut_before_ack:
            broker.cut_before_ack -= 1
            broker.drop()
            raise BrokerUnavailable("cannot reach fake-broker to acknowledge: dropped")
        for d in deliveries:
            if broker._unacked.pop(d.handle, None) is None:
                raise BrokerUnavailable("fake-broker: delivery of an old connection")

    async def release(self, deliveries: Sequence[Delivery]) -> None:
        for d in reversed(deliveries):
            if (found := self.broker._unacked.pop(d.handle, None)) is not None:
                found[1].redelivered = True
                self.broker.queues[found[0]].appendleft(found[1])

    async def publish(self, queue: str, messages: Sequence[Outgoing]) -> None:
        held = self._queue(queue)
        for m in messages:
            given = m.properties.get("message_id")
            held.append(_Stored(str(given or f"id-{next(self.broker._ids)}"), m))
        self.broker._arrived.set()
        if self.broker.cut_after_publish:
            self.broker.cut_after_publish -= 1
            self.broker.drop()
            raise BrokerUnavailable("cannot reach fake-broker to publish: dropped")

    async def depth(self, queue: str, *, group: str | None = None) -> int | None:
        return len(self._queue(queue))
