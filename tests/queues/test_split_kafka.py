"""The split's broker side on a real Kafka-protocol broker (Tansu): forwarding by filter,
records kept whole (key, headers, timestamp), drain by the consumer group's offsets."""

from __future__ import annotations

import asyncio

from podtap.backends.brokers.base import BrokerError, Outgoing
from podtap.backends.brokers.factory import broker_client
from podtap.backends.brokers.forwarder import Forwarder
from podtap.core.queues import QueueKind
from podtap.testing.brokers import Kafka
from tests.queues.scenario import (
    check_drain,
    check_forwarding,
    check_restart,
    forward_all,
    kafka_config,
    make_split,
)


def test_a_thousand_records_each_reach_the_topic_their_filters_say(kafka_broker: Kafka) -> None:
    asyncio.run(check_forwarding(QueueKind.KAFKA, kafka_config(kafka_broker), count=1000))


def test_draining_puts_every_record_back_into_the_original(kafka_broker: Kafka) -> None:
    asyncio.run(check_drain(QueueKind.KAFKA, kafka_config(kafka_broker), count=300))


async def _record_kept(config: dict[str, str]) -> None:
    client = broker_client(QueueKind.KAFKA, config)
    await client.connect()
    split = await make_split(client, prefix="whole")
    headers = (("tenant", b"carol"), ("trace", b"\x00\xff"), ("tenant", b"dave"))
    sent = Outgoing(b"\xfe payload", headers, key=b"k-7", properties={"timestamp_ms": 1234567})
    gone = Outgoing(b"", key=b"k-8", properties={"tombstone": True})
    await client.publish(split.original, [sent, gone])
    fwd = Forwarder(
        broker_client(QueueKind.KAFKA, config), original=split.original, fallback=split.fallback
    )
    await forward_all(fwd, count=2)
    got, deleted = await client.receive(split.fallback, max_messages=5, wait=10, group="reader")
    assert deleted.outgoing.properties["tombstone"] and deleted.outgoing.key == b"k-8"
    assert deleted.message.document["payload"] is None  # a tombstone stays one
    assert (got.outgoing.body, got.outgoing.key) == (b"\xfe payload", b"k-7")
    assert got.outgoing.headers == headers  # order and repeats kept
    assert got.outgoing.properties["timestamp_ms"] == 1234567
    assert got.message.document["headers"]["tenant"] == "dave"  # what jq sees: the last wins
    await client.close()


def test_forwarding_keeps_key_value_headers_timestamp_and_tombstones(kafka_broker: Kafka) -> None:
    asyncio.run(_record_kept(kafka_config(kafka_broker)))


def test_a_broker_restart_while_forwarding_loses_no_record(durable_kafka: Kafka) -> None:
    old = durable_kafka.pid
    config = kafka_config(durable_kafka)
    # one record a batch: slow enough for the restart to fall in the middle. aiokafka's
    # clients reconnect and resend by themselves, so the forwarder may see no error, and
    # a batch resent across the restart may be there twice: Tansu has no idempotent
    # producer to drop it (Kafka does: enable.idempotence), so duplicates are not counted
    stats = check_restart(
        QueueKind.KAFKA, config, restart=durable_kafka.restart, count=500, batch=1, counted=False
    )
    assert durable_kafka.pid != old
    assert stats.forwarded == 500


async def _missing(config: dict[str, str]) -> str:
    client = broker_client(QueueKind.KAFKA, config)
    await client.connect()
    try:
        await client.receive("no-such-topic", max_messages=1, wait=0.1)
    except BrokerError as exc:
        return str(exc)
    finally:
        await client.close()
    raise AssertionError("read a topic that does not exist")


def test_a_missing_topic_is_one_clear_line_and_is_not_created(kafka_broker: Kafka) -> None:
    assert asyncio.run(_missing(kafka_config(kafka_broker))).endswith("has no topic no-such-topic")
    assert asyncio.run(_missing(kafka_config(kafka_broker))).endswith("has no topic no-such-topic")
