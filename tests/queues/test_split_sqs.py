"""The split's broker side on a real SQS (moto): forwarding by filter, mirror, drain."""

from __future__ import annotations

import asyncio
import dataclasses

from podtap.backends.brokers.base import BrokerError, Outgoing
from podtap.backends.brokers.drain import drain
from podtap.backends.brokers.factory import broker_client
from podtap.backends.brokers.forwarder import Forwarder, ForwardStats
from podtap.backends.brokers.settings import sqs_settings
from podtap.backends.brokers.sqs import SqsClient
from podtap.core.config.queues import QueueMode
from podtap.core.queues import QueueKind, Route, compile_queue_filter
from podtap.testing.brokers import Sqs
from podtap.testing.cutproxy import CutProxy
from podtap.testing.wait import async_wait_until
from tests.queues.scenario import (
    ALICE,
    BOB,
    TENANTS,
    attributes,
    check_drain,
    check_forwarding,
    consume_all,
    destination,
    expected,
    forward_all,
    make_split,
    number,
    outgoing,
    publish,
    routes,
    sqs_config,
)


def test_a_thousand_messages_each_reach_the_queue_their_filters_say(sqs_broker: Sqs) -> None:
    asyncio.run(check_forwarding(QueueKind.SQS, sqs_config(sqs_broker), count=1000))


def test_draining_puts_every_message_back_into_the_original(sqs_broker: Sqs) -> None:
    asyncio.run(check_drain(QueueKind.SQS, sqs_config(sqs_broker), count=200))


async def _mirror(config: dict[str, str]) -> None:
    client = broker_client(QueueKind.SQS, config)
    await client.connect()
    split = await make_split(client, prefix="mirrored")
    await publish(client, split.original, list(range(40)))
    mirror = compile_queue_filter(
        queue_id="q",
        kind=QueueKind.SQS,
        jq_filter='.MessageAttributes.tenant.StringValue == "bob"',
        mode=QueueMode.MIRROR,
    )
    steal = compile_queue_filter(queue_id="q", kind=QueueKind.SQS, message_filter={"n": "^1"})
    fwd = Forwarder(
        broker_client(QueueKind.SQS, config), original=split.original, fallback=split.fallback
    )
    fwd.set_routes([Route(ALICE, steal), Route(BOB, mirror)], queues=split.queues)
    await forward_all(fwd, count=40)
    stolen = {n for n in range(40) if str(n).startswith("1")}
    bobs = {n for n in range(40) if n % 4 == 1}
    got = {q: sorted(await consume_all(client, q, expect=1)) for q in split.created}
    assert got[split.queues[ALICE]] == sorted(stolen)
    assert got[split.queues[BOB]] == sorted(bobs)  # a copy of each, stolen or not
    assert got[split.fallback] == sorted(set(range(40)) - stolen)
    assert fwd.stats.copies[BOB] == len(bobs)
    await client.close()


def test_a_mirroring_session_gets_a_copy_and_takes_nothing(sqs_broker: Sqs) -> None:
    asyncio.run(_mirror(sqs_config(sqs_broker)))


async def _attributes_kept(config: dict[str, str]) -> None:
    client = broker_client(QueueKind.SQS, config)
    await client.connect()
    split = await make_split(client, prefix="typed")
    typed = (
        ("n", {"DataType": "Number", "StringValue": "5"}),
        ("blob", {"DataType": "Binary", "BinaryValue": b"\x00\xff"}),
        ("tenant", {"DataType": "String.custom", "StringValue": "carol"}),
    )
    await client.publish(split.original, [Outgoing(b'{"n": 5}', typed)])
    fwd = Forwarder(
        broker_client(QueueKind.SQS, config), original=split.original, fallback=split.fallback
    )
    await forward_all(fwd, count=1)
    (got,) = await client.receive(split.fallback, max_messages=1, wait=5)
    assert number(got.outgoing.body) == 5
    assert dict(got.outgoing.headers) == dict(typed)
    assert got.message.attributes == {"n": "5", "tenant": "carol"}
    await client.close()


def test_forwarding_keeps_the_body_and_every_attribute_with_its_type(sqs_broker: Sqs) -> None:
    asyncio.run(_attributes_kept(sqs_config(sqs_broker)))


async def _fifo(config: dict[str, str]) -> None:
    client = broker_client(QueueKind.SQS, config)
    await client.connect()
    split = await make_split(client, prefix="ordered", suffix=".fifo")
    assert all(name.endswith(".fifo") for name in split.created)
    numbers = list(range(60))

    def fifo(n: int) -> Outgoing:
        plain = outgoing(QueueKind.SQS, n)
        tenant = attributes(n)["tenant"]
        group = {"MessageGroupId": tenant, "MessageDeduplicationId": f"d-{n}"}
        return dataclasses.replace(plain, properties=group)

    for i in range(0, 60, 10):
        await client.publish(split.original, [fifo(n) for n in numbers[i : i + 10]])
    fwd = Forwarder(
        broker_client(QueueKind.SQS, config), original=split.original, fallback=split.fallback
    )
    fwd.set_routes(routes(QueueKind.SQS), queues=split.queues)
    await forward_all(fwd, count=60)
    for queue in split.created:
        # the original queue saw each deduplication id already: real SQS would drop every
        # message of a drain that kept them, for 5 minutes (moto only compares with the
        # messages still in the queue, so it cannot show that: drain gives fresh ids)
        result = await drain(client, source=queue, into=split.original, timeout=30)
        assert result.complete, result
    back = await consume_all(client, split.original, expect=60)
    assert sorted(back) == numbers
    for tenant in TENANTS:  # each group's order holds through forwarding and draining
        mine = [n for n in back if attributes(n)["tenant"] == tenant]
        routed = {destination(n) for n in mine}
        if len(routed) == 1:
            assert mine == sorted(mine), tenant
    for name in (split.original, *split.created):
        await client.delete_queue(name)
    await client.close()


def test_a_fifo_queue_splits_into_fifo_queues_and_drains_back_whole(sqs_broker: Sqs) -> None:
    asyncio.run(_fifo(sqs_config(sqs_broker)))


async def _cut(broker: Sqs, count: int) -> ForwardStats:
    proxy = CutProxy(broker.port)
    await proxy.start()
    client = broker_client(QueueKind.SQS, sqs_config(broker))
    await client.connect()
    split = await make_split(client, prefix="cut")
    await publish(client, split.original, list(range(count)))
    through = {**sqs_config(broker), "endpointUrl": f"http://127.0.0.1:{proxy.port}"}
    # what was received when the connection broke is hidden until its visibility ends
    fwd = Forwarder(
        SqsClient(sqs_settings(through), visibility=2),
        original=split.original,
        fallback=split.fallback,
        batch=20,
        max_backoff=0.3,
    )
    fwd.set_routes(routes(QueueKind.SQS), queues=split.queues)
    fwd.start()
    await async_wait_until(lambda: fwd.stats.forwarded >= count // 4, timeout=60, what="a start")
    await proxy.cut()
    await async_wait_until(lambda: fwd.stats.reconnects, timeout=30, what="the cut to be seen")
    assert fwd.stats.forwarded < count, "the forwarder was done before the cut: nothing tested"
    await proxy.resume()
    await async_wait_until(lambda: fwd.stats.forwarded >= count, timeout=90, what="the rest")
    await fwd.stop()
    await proxy.close()
    extra = 0
    for queue, share in expected(split, list(range(count))).items():
        got = await consume_all(client, queue, expect=len(share))
        assert sorted(set(got)) == share, queue  # none lost
        extra += len(got) - len(share)
    assert extra <= fwd.stats.possible_duplicates, (extra, fwd.stats)
    assert "cannot reach SQS at http://127.0.0.1:" in (fwd.stats.last_error or "")
    for name in (split.original, *split.created):
        await client.delete_queue(name)
    await client.close()
    return fwd.stats


def test_a_connection_cut_while_forwarding_loses_no_message(sqs_broker: Sqs) -> None:
    # moto keeps its queues in memory: a restart would lose them, so the network is cut
    stats = asyncio.run(_cut(sqs_broker, 200))
    assert stats.reconnects >= 1


async def _missing(config: dict[str, str]) -> str:
    client = broker_client(QueueKind.SQS, config)
    await client.connect()
    try:
        await client.receive("no-such-queue", max_messages=1, wait=0)
    except BrokerError as exc:
        return str(exc)
    finally:
        await client.close()
    raise AssertionError("read a queue that does not exist")


def test_a_missing_queue_is_one_clear_line(sqs_broker: Sqs) -> None:
    message = asyncio.run(_missing(sqs_config(sqs_broker)))
    assert "refused to find queue no-such-queue" in message and "\n" not in message
