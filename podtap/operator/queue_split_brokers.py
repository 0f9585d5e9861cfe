"""The broker side of one workload's queue split: its queues made, routed, drained, deleted.

One admin client per queue of the split config creates and deletes the split's queues;
each original queue has its own forwarder (with its own client: stopping a forwarder closes
it); each drain pass opens a client of its own, so that a long drain never shares a
connection with a create or another drain. Names are the broker's (see
:mod:`podtap.core.queues.steps`); which broker a name lives on follows from its original.

Kafka keeps what was consumed per consumer group, so a Kafka split reads as the group the
workload reads with (``clientConfig``'s ``group.id``; the sessions' processes keep it, as
it is in the pod's env): the forwarder picks the original up where the workload had got
to and leaves it where the restored workload goes on, and each drain moves only what the
split topic's consumers had not committed. A split without it is refused: reading as any
other group would forward the original's history again, and drain back records that the
sessions had consumed already.
"""

from __future__ import annotations

import asyncio
import contextlib
import re
from collections import Counter
from collections.abc import Awaitable, Callable, Mapping
from typing import Any

from podtap.backends.brokers.base import BrokerClient, BrokerError, BrokerUnavailable
from podtap.backends.brokers.drain import drain
from podtap.backends.brokers.factory import broker_client
from podtap.backends.brokers.forwarder import Forwarder, ForwardStats
from podtap.core.ids import SessionId
from podtap.core.queues import QueueFilter, QueueKind, QueueSpec, Route, SplitPlan

__all__ = ["ClientFactory", "SplitBrokers"]

ClientFactory = Callable[[QueueKind, Mapping[str, Any]], BrokerClient]


class SplitBrokers:
    def __init__(self, plan: SplitPlan, *, clients: ClientFactory = broker_client) -> None:
        self._clients = clients
        self._spec: dict[str, QueueSpec] = {
            original: queue.spec for queue in plan.queues for original in queue.originals
        }
        self._admins: dict[str, BrokerClient] = {}  # queue id -> connected client
        self._connecting = asyncio.Lock()
        self.forwarders: dict[str, Forwarder] = {}  # original -> its forwarder
        self.routed: Counter[SessionId | None] = Counter()  # of forwarders already stopped
        self.delivered: Counter[str] = Counter()  # their delivery figures (`delivery`)

    def _new(self, original: str) -> BrokerClient:
        spec = self._spec[original]
        if spec.kind is QueueKind.KAFKA and not _has_group(spec.client_config):
            raise BrokerError(
                "clientConfig: a Kafka split needs group.id, the consumer group the workload "
                "reads the topic with (the split's forwarder and drains read as it)"
            )
        return self._clients(spec.kind, spec.client_config)

    async def _admin(self, original: str) -> BrokerClient:
        queue_id = self._spec[original].id
        async with self._connecting:  # two creates at once must not open two clients
            return self._admins.get(queue_id) or await self._connect(original, queue_id)

    async def _connect(self, original: str, queue_id: str) -> BrokerClient:
        client = self._new(original)
        try:
            await client.connect()
        except BrokerError:
            with contextlib.suppress(BrokerError):
                await client.close()  # what the failed connect opened
            raise
        self._admins[queue_id] = client
        return client

    async def _admin_call(
        self, original: str, call: Callable[[BrokerClient], Awaitable[None]]
    ) -> None:
        """``call`` on the admin client, reconnected once if its connection broke."""
        for retry in (False, True):
            client = await self._admin(original)
            try:
                return await call(client)
            except BrokerUnavailable:
                if self._admins.get(self._spec[original].id) is client:
                    del self._admins[self._spec[original].id]
                with contextlib.suppress(BrokerError):
                    await client.close()
                if retry:
                    raise

    async def create(self, name: str, *, original: str) -> None:
        """Make ``name`` shaped like ``original``; BrokerError (one line) if the broker will not."""
        await self._admin_call(original, lambda c: c.create_queue(name, like=original))

    async def delete(self, name: str, *, original: str) -> None:
        await self._admin_call(original, lambda c: c.delete_queue(name))

    async def drain(self, source: str, *, into: str, timeout: float) -> tuple[int, int]:
        """One drain pass of ``source`` into its original: (moved, how many remain)."""
        client = self._new(into)
        try:
            await client.connect()
            result = await drain(client, source=source, into=into, timeout=timeout)
        except BrokerError:
            return 0, 1  # the broker is away: the machine asks for another pass
        finally:
            with contextlib.suppress(BrokerError):
                await client.close()
        return result.moved, 0 if result.complete else max(1, result.remaining or 0)

    def route(
        self,
        *,
        fallback: Mapping[str, str],
        queues: Mapping[SessionId, Mapping[str, str]],
        filters: Mapping[SessionId, Mapping[str, QueueFilter]],
    ) -> None:
        """Forward every original: each session's matches to its queue, the rest to
        ``fallback[original]`` (starting the forwarders not running yet)."""
        for original, into in fallback.items():
            forwarder = self.forwarders.get(original)
            if forwarder is None:
                forwarder = Forwarder(self._new(original), original=original, fallback=into)
                self.forwarders[original] = forwarder
            routes = [
                Route(session, f[original]) for session, f in filters.items() if original in f
            ]
            names = {s: queues[s][original] for s in queues if original in queues[s]}
            forwarder.set_routes([r for r in routes if r.session in names], queues=names)
            forwarder.start()

    async def stop_forwarding(self) -> None:
        forwarders, self.forwarders = self.forwarders, {}
        for forwarder in forwarders.values():
            stats = await forwarder.stop()
            self.routed.update(stats.sessions)
            self.routed[None] += stats.fallback
            self.delivered.update(_delivery(stats))

    def counts(self) -> Counter[SessionId | None]:
        """Messages routed so far, per session (``None``: to the fallback)."""
        total = Counter(self.routed)
        for forwarder in self.forwarders.values():
            total.update(forwarder.stats.sessions)
            total[None] += forwarder.stats.fallback
        return total

    def delivery(self) -> dict[str, int]:
        """At-least-once, counted: messages the broker gave back that were already
        published and were acked, not sent twice (``duplicates_skipped``); messages that
        may have reached a queue twice (``possible_duplicates``); ``reconnects``."""
        total = Counter(self.delivered)
        for forwarder in self.forwarders.values():
            total.update(_delivery(forwarder.stats))
        return {k: total[k] for k in ("duplicates_skipped", "possible_duplicates", "reconnects")}

    async def close(self) -> None:
        await self.stop_forwarding()
        admins, self._admins = self._admins, {}
        for client in admins.values():
            with contextlib.suppress(BrokerError):
                await client.close()


def _has_group(config: Mapping[str, Any]) -> bool:
    """Whether ``config`` names Kafka's ``group.id`` (spelled as settings.py reads it)."""
    names = {re.sub(r"[._\-]", "", str(k)).lower(): v for k, v in config.items()}
    return names.get("groupid") not in (None, "")


def _delivery(stats: ForwardStats) -> dict[str, int]:
    return {
        "duplicates_skipped": stats.duplicates,
        "possible_duplicates": stats.possible_duplicates,
        "reconnects": stats.reconnects,
    }
