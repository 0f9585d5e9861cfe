"""The forwarder's own logic on the in-memory broker: acks only after publishing, a lost
ack or a cut-off publish loses nothing and is counted, a random pick is not redrawn, and
a broker that is down at first is waited for."""

from __future__ import annotations

import asyncio
import itertools
from typing import Any

import pytest

from podtap.backends.brokers.base import Delivery, Outgoing
from podtap.backends.brokers.drain import drain
from podtap.backends.brokers.forwarder import Forwarder
from podtap.core.ids import SessionId
from podtap.core.queues import QueueKind, Route, compile_queue_filter
from podtap.testing.fakebroker import FakeBroker
from podtap.testing.wait import async_wait_until

ALICE, BOB = SessionId("alice"), SessionId("bob")
QUEUES = {ALICE: "tmp-alice", BOB: "tmp-bob"}


def message(n: int) -> Outgoing:
    tenant = ("alice", "bob", "carol")[n % 3]
    return Outgoing(str(n).encode(), (("tenant", tenant),), properties={"message_id": f"m{n}"})


def tenant_route(session: SessionId, regex: str) -> Route:
    flt = compile_queue_filter(queue_id="q", kind=QueueKind.RMQ, message_filter={"tenant": regex})
    return Route(session, flt)


async def broker_with(count: int) -> FakeBroker:
    broker = FakeBroker()
    client = broker.client()
    await client.connect()
    for name in ("orders", "fallback", *QUEUES.values()):
        await client.create_queue(name)
    await client.publish("orders", [message(n) for n in range(count)])
    return broker


def numbers(broker: FakeBroker, queue: str) -> list[int]:
    return sorted(int(b) for b in broker.bodies(queue))


def forwarder(broker: FakeBroker, **options: Any) -> Forwarder:
    """A forwarder of ``orders`` that polls briefly and retries at once."""
    options = {"wait": 0.05, "max_backoff": 0.01, **options}
    return Forwarder(broker.client(), original="orders", fallback="fallback", **options)


async def run(fwd: Forwarder, *, until: int) -> None:
    fwd.start()
    await async_wait_until(lambda: fwd.stats.forwarded >= until, timeout=5, what="forwarding")
    await fwd.stop()


async def _routes_and_counts() -> None:
    broker = await broker_with(30)
    fwd = forwarder(broker, batch=7)
    fwd.set_routes([tenant_route(ALICE, "^alice$"), tenant_route(BOB, "^bob$")], queues=QUEUES)
    await run(fwd, until=30)
    assert numbers(broker, "tmp-alice") == list(range(0, 30, 3))
    assert numbers(broker, "tmp-bob") == list(range(1, 30, 3))
    assert numbers(broker, "fallback") == list(range(2, 30, 3))
    assert broker.bodies("orders") == [] and not broker._unacked  # all acked
    assert fwd.stats.sessions == {ALICE: 10, BOB: 10} and fwd.stats.fallback == 10
    assert fwd.stats.by_queue == {"tmp-alice": 10, "tmp-bob": 10, "fallback": 10}


def test_each_message_goes_where_its_filter_says_and_is_counted() -> None:
    asyncio.run(_routes_and_counts())


async def _lost_ack() -> None:
    broker = await broker_with(20)
    broker.cut_before_ack = 1  # the first batch is published, then its ack is lost
    fwd = forwarder(broker, batch=5)
    await run(fwd, until=20)
    assert numbers(broker, "fallback") == list(range(20))  # once each
    assert (fwd.stats.duplicates, fwd.stats.redelivered, fwd.stats.reconnects) == (5, 0, 1)
    assert fwd.stats.possible_duplicates == 0


def test_a_message_back_after_a_lost_ack_is_acked_not_published_again() -> None:
    asyncio.run(_lost_ack())


async def _cut_publish() -> None:
    broker = await broker_with(20)
    broker.cut_after_publish = 1  # stored, but the confirmation is lost with the connection
    fwd = forwarder(broker, batch=5)
    await run(fwd, until=20)
    got = numbers(broker, "fallback")
    assert sorted(set(got)) == list(range(20))  # none lost
    assert len(got) - 20 == fwd.stats.republished == fwd.stats.possible_duplicates == 5


def test_a_publish_cut_off_is_published_again_and_counted_as_possible_duplicates() -> None:
    asyncio.run(_cut_publish())


async def _same_pick() -> None:
    broker = await broker_with(12)
    broker.cut_before_ack = 2
    picks = itertools.cycle([0, 1])
    fwd = forwarder(broker, batch=4, pick=lambda n: next(picks) % n)
    anyone = [tenant_route(ALICE, "."), tenant_route(BOB, ".")]  # both take everything
    fwd.set_routes(anyone, queues=QUEUES)
    await run(fwd, until=12)
    alice, bob = numbers(broker, "tmp-alice"), numbers(broker, "tmp-bob")
    assert sorted(alice + bob) == list(range(12))  # a redelivery kept its first pick
    assert len(alice) == len(bob) == 6


def test_a_redelivered_message_keeps_the_session_it_was_first_given() -> None:
    asyncio.run(_same_pick())


async def _waits_for_broker() -> None:
    broker = await broker_with(6)
    broker.up = False
    fwd = Forwarder(broker.client(), original="orders", fallback="fallback", max_backoff=0.02)
    fwd.start()
    await async_wait_until(lambda: fwd.stats.last_error, timeout=5, what="an error")
    assert fwd.stats.received == 0
    broker.up = True
    await async_wait_until(lambda: fwd.stats.forwarded == 6, timeout=5, what="forwarding")
    await fwd.stop()
    assert numbers(broker, "fallback") == list(range(6))


def test_a_broker_down_at_first_is_waited_for() -> None:
    asyncio.run(_waits_for_broker())


def test_routes_need_a_queue_for_every_session() -> None:
    fwd = Forwarder(FakeBroker().client(), original="o", fallback="f")
    with pytest.raises(ValueError, match="no temporary queue for session bob"):
        fwd.set_routes([tenant_route(BOB, "x")], queues={ALICE: "tmp-alice"})


async def _drain_fifo() -> None:
    broker = await broker_with(0)
    client = broker.client()
    await client.connect()
    fifo = {"MessageGroupId": "g", "MessageDeduplicationId": "first"}
    await client.publish("tmp-alice", [Outgoing(b"1", properties=fifo)] * 3)
    result = await drain(client, source="tmp-alice", into="orders", timeout=5, idle=0.05)
    assert (result.moved, result.remaining, result.complete) == (3, 0, True)
    back = await client.receive("orders", max_messages=10, wait=0)
    ids = [d.outgoing.properties["MessageDeduplicationId"] for d in back]
    assert len(set(ids)) == 3 and "first" not in ids  # the original saw "first" already
    assert all(
        isinstance(d, Delivery) and d.outgoing.properties["MessageGroupId"] == "g" for d in back
    )


def test_a_drain_moves_everything_and_gives_fifo_messages_fresh_deduplication_ids() -> None:
    asyncio.run(_drain_fifo())


async def _session_left() -> None:
    broker = await broker_with(6)
    del broker.queues["tmp-alice"]  # alice is leaving: her queue is drained and deleted
    fwd = forwarder(broker, batch=6)
    fwd.set_routes([tenant_route(ALICE, ".")], queues={ALICE: "tmp-alice"})
    fwd.start()
    await async_wait_until(
        lambda: "no queue tmp-alice" in (fwd.stats.last_error or ""), timeout=5, what="a refusal"
    )
    fwd.set_routes([], queues={})  # she has left
    await async_wait_until(lambda: fwd.stats.fallback == 6, timeout=5, what="the fallback")
    await fwd.stop()
    assert numbers(broker, "fallback") == list(range(6))
    assert fwd.stats.duplicates == 0


def test_a_message_back_for_a_session_that_left_is_routed_afresh() -> None:
    asyncio.run(_session_left())
