"""The forwarder: consumes a split's original queue and carries out ``core.queues.route``.

It decides nothing itself. Each batch it receives, it asks :func:`~podtap.core.queues.route`
where every message goes (a session's temporary queue, else the fallback queue; plus a
copy to each mirroring session), publishes each destination's share, and acks the batch
only after every publish succeeded: a message is never in no queue (at-least-once). When
the broker goes away it closes the client, waits (backing off up to ``max_backoff``) and
reconnects (so it does after any other error: a forwarder that stopped would stop the
workload's queue); what it had not acked comes back from the broker. A message that comes back
after it was already published is not published again: the forwarder remembers, by the
broker's message id, the destinations each unacked message reached (and its routing, so
a random pick is not redrawn), acks it and counts it in ``duplicates``; unless a session
it had not reached yet has left since: then it is routed afresh. A message the
broker marks redelivered but which this forwarder did not publish is forwarded and counted
in ``redelivered`` (a duplicate only if an earlier forwarder process had published it;
``unidentified`` when it has no id to tell); one whose publish was cut off by the broker
going away (it may have arrived: the confirmation was lost) is published again and counted
in ``republished``. Those are the possible duplicates downstream (at-least-once); nothing
is ever dropped to avoid them.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import random
from collections import Counter
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field

from podtap.backends.brokers.base import (
    BrokerClient,
    BrokerError,
    BrokerUnavailable,
    Delivery,
)
from podtap.core.ids import SessionId
from podtap.core.queues import Route, route
from podtap.net.tasks import TaskSet

__all__ = ["ForwardStats", "Forwarder"]

log = logging.getLogger(__name__)
_REMEMBERED = 100_000


@dataclass
class ForwardStats:
    """What the forwarder did (for status and metrics). ``by_queue``: messages published
    per destination queue (copies included); ``sessions``: messages each session took
    (``copies``: mirrored to it); ``fallback``: messages sent to the fallback queue."""

    received: int = 0
    by_queue: Counter[str] = field(default_factory=Counter)
    sessions: Counter[SessionId] = field(default_factory=Counter)
    copies: Counter[SessionId] = field(default_factory=Counter)
    fallback: int = 0
    duplicates: int = 0
    redelivered: int = 0
    unidentified: int = 0
    republished: int = 0
    reconnects: int = 0
    last_error: str | None = None

    @property
    def possible_duplicates(self) -> int:
        """At most this many messages may have reached a queue twice (this process's
        doing: it cannot know what an earlier forwarder published)."""
        return self.unidentified + self.republished

    @property
    def forwarded(self) -> int:
        """Messages of the original queue that reached their queue (copies not counted)."""
        return self.fallback + sum(self.sessions.values())


@dataclass(slots=True)
class _Sent:
    """Where one unacked message goes, who takes it, and which of those queues have it."""

    to: SessionId | None
    copies: tuple[SessionId, ...]
    queues: tuple[str, ...]
    done: set[str] = field(default_factory=set)
    doubt: set[str] = field(default_factory=set)


class Forwarder:
    """Forward ``original`` to the sessions' queues and ``fallback`` (see the module)."""

    def __init__(
        self,
        client: BrokerClient,
        *,
        original: str,
        fallback: str,
        group: str | None = None,
        batch: int = 100,
        wait: float = 1.0,
        max_backoff: float = 5.0,
        pick: Callable[[int], int] = random.randrange,
    ) -> None:
        self.client = client
        self.original = original
        self.fallback = fallback
        self.group = group
        self.batch = batch
        self.wait = wait
        self.max_backoff = max_backoff
        self.pick = pick
        self.stats = ForwardStats()
        self._routes: tuple[Route, ...] = ()
        self._queues: dict[SessionId, str] = {}
        self._sent: dict[str, _Sent] = {}
        self._stopping = asyncio.Event()
        self._tasks = TaskSet()
        self._task: asyncio.Task[None] | None = None
        self.connected = asyncio.Event()

    def set_routes(self, routes: Sequence[Route], *, queues: Mapping[SessionId, str]) -> None:
        """From the next batch on: these sessions' filters, each to its queue in ``queues``."""
        if missing := [r.session for r in routes if r.session not in queues]:
            raise ValueError(f"no temporary queue for session {missing[0]}")
        self._routes = tuple(routes)
        self._queues = dict(queues)

    def start(self) -> None:
        if self._task is None:
            self._task = self._tasks.spawn(self.run(), name=f"forward {self.original}")

    async def stop(self) -> ForwardStats:
        """Finish the batch in hand, stop consuming and close the client."""
        self._stopping.set()
        if self._task is not None:
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
        await self._tasks.close()
        await self.client.close()
        return self.stats

    async def run(self) -> None:
        backoff = 0.1
        while not self._stopping.is_set():
            try:
                if not self.connected.is_set():
                    await self.client.connect()
                    self.connected.set()
                batch = await self.client.receive(
                    self.original, max_messages=self.batch, wait=self.wait, group=self.group
                )
                if batch:
                    await self._forward(batch)
                backoff = 0.1
            except Exception as exc:  # the original queue must not stop being consumed
                if not isinstance(exc, BrokerError):
                    log.error("forwarder of %s failed", self.original, exc_info=exc)
                    exc = BrokerError(f"unexpected {type(exc).__name__}: {exc}")
                self._failed(exc)
                with contextlib.suppress(asyncio.TimeoutError):
                    await asyncio.wait_for(self._stopping.wait(), timeout=backoff)
                backoff = min(self.max_backoff, backoff * 2)

    def _failed(self, exc: BrokerError) -> None:
        self.stats.last_error = str(exc)
        if self.connected.is_set():
            log.warning("forwarder of %s: %s; reconnecting", self.original, exc)
            self.stats.reconnects += 1
        self.connected.clear()

    def _plan(self, delivery: Delivery) -> _Sent:
        sent = self._sent.get(delivery.id) if delivery.id is not None else None
        live = {self.fallback, *self._queues.values()}
        if sent is not None and all(q in sent.done or q in live for q in sent.queues):
            if sent.done:
                self.stats.duplicates += 1
            return sent  # else a session it was for left since: route it afresh
        if delivery.redelivered:
            self.stats.redelivered += 1
            self.stats.unidentified += delivery.id is None
        routing = route(delivery.message, self._routes, pick=self.pick)
        first = self.fallback if routing.to is None else self._queues[routing.to]
        queues = (first, *(self._queues[s] for s in routing.copies))
        sent = _Sent(routing.to, routing.copies, tuple(dict.fromkeys(queues)))
        if delivery.id is not None:
            self._sent[delivery.id] = sent
            if len(self._sent) > _REMEMBERED:
                del self._sent[next(iter(self._sent))]
        return sent

    async def _forward(self, batch: Sequence[Delivery]) -> None:
        self.stats.received += len(batch)
        plans = [(d, self._plan(d)) for d in batch]
        shares: dict[str, list[tuple[Delivery, _Sent]]] = {}
        for d, sent in plans:
            for queue in sent.queues:
                if queue not in sent.done:
                    shares.setdefault(queue, []).append((d, sent))
        names = list(shares)
        results = await asyncio.gather(
            *(self.client.publish(q, [d.outgoing for d, _ in shares[q]]) for q in names),
            return_exceptions=True,
        )
        for queue, result in zip(names, results, strict=True):
            for _, sent in shares[queue]:
                if isinstance(result, BrokerUnavailable):
                    sent.doubt.add(queue)
                elif not isinstance(result, BaseException):
                    self._count(queue, sent)
                    sent.done.add(queue)
        if failed := next((r for r in results if isinstance(r, BaseException)), None):
            with contextlib.suppress(BrokerError):
                await self.client.release(batch)
            raise failed
        await self.client.ack(batch)
        for d in batch:
            if d.id is not None:
                self._sent.pop(d.id, None)

    def _count(self, queue: str, sent: _Sent) -> None:
        stats = self.stats
        stats.by_queue[queue] += 1
        stats.republished += queue in sent.doubt
        if queue == sent.queues[0]:
            if sent.to is None:
                stats.fallback += 1
            else:
                stats.sessions[sent.to] += 1
        else:
            for session in sent.copies:
                if self._queues.get(session) == queue:
                    stats.copies[session] += 1
