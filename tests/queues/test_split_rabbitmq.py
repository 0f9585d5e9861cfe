"""The split's broker side on a real RabbitMQ: forwarding by filter, drain, and a broker
restart in the middle of forwarding that loses no message."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime

import pytest

from podtap.backends.brokers.base import BrokerError, Outgoing
from podtap.backends.brokers.factory import broker_client
from podtap.backends.brokers.forwarder import Forwarder
from podtap.core.queues import QueueKind
from podtap.testing.brokers import RabbitMQ
from tests.queues.scenario import (
    check_drain,
    check_forwarding,
    check_restart,
    forward_all,
    make_split,
    rabbit_config,
)


def test_a_thousand_messages_each_reach_the_queue_their_filters_say(
    rabbitmq_broker: RabbitMQ,
) -> None:
    asyncio.run(check_forwarding(QueueKind.RMQ, rabbit_config(rabbitmq_broker), count=1000))


def test_draining_puts_every_message_back_into_the_original(rabbitmq_broker: RabbitMQ) -> None:
    asyncio.run(check_drain(QueueKind.RMQ, rabbit_config(rabbitmq_broker), count=300))


def test_a_broker_restart_while_forwarding_loses_no_message(rabbitmq_broker: RabbitMQ) -> None:
    old = rabbitmq_broker.pid
    config = rabbit_config(rabbitmq_broker)
    stats = check_restart(QueueKind.RMQ, config, restart=rabbitmq_broker.restart, count=1000)
    assert rabbitmq_broker.pid != old
    assert stats.reconnects >= 1 and "cannot reach RabbitMQ at" in (stats.last_error or "")


async def _refusals(broker: RabbitMQ) -> tuple[str, str]:
    wrong = broker_client(QueueKind.RMQ, {"url": broker.url.replace("guest@", "nope@")})
    with pytest.raises(BrokerError) as login:
        await wrong.connect()
    client = broker_client(QueueKind.RMQ, rabbit_config(broker))
    await client.connect()
    with pytest.raises(BrokerError) as missing:
        await client.receive("no-such-queue", max_messages=1, wait=0.1)
    await client.close()
    return str(login.value), str(missing.value)


def test_a_wrong_login_or_a_missing_queue_is_one_clear_line(rabbitmq_broker: RabbitMQ) -> None:
    login, missing = asyncio.run(_refusals(rabbitmq_broker))
    assert "refused the login: check clientConfig's url" in login and "nope" not in login
    assert missing.endswith("has no queue no-such-queue")


async def _kept(broker: RabbitMQ) -> None:
    config = rabbit_config(broker)
    client = broker_client(QueueKind.RMQ, config)
    await client.connect()
    split = await make_split(client, prefix="whole")
    headers = (("tenant", "carol"), ("tries", 3), ("meta", {"a": "x", "b": [1, True]}))
    properties = {
        "content_type": "application/json",
        "content_encoding": "utf-8",
        "delivery_mode": 2,
        "priority": 4,
        "correlation_id": "c-1",
        "reply_to": "answers",
        "message_id": "m-1",
        "timestamp": datetime(2026, 1, 2, 3, 4, 5, tzinfo=UTC),
        "type": "order.created",
        "app_id": "shop",
    }
    await client.publish(split.original, [Outgoing(b'{"n": 1}', headers, properties=properties)])
    fwd = Forwarder(
        broker_client(QueueKind.RMQ, config), original=split.original, fallback=split.fallback
    )
    await forward_all(fwd, count=1)
    (got,) = await client.receive(split.fallback, max_messages=1, wait=10)
    assert got.outgoing.body == b'{"n": 1}'
    assert dict(got.outgoing.headers) == dict(headers)
    assert {k: got.outgoing.properties[k] for k in properties} == properties
    assert got.message.attributes["tenant"] == "carol" and got.message.attributes["tries"] == "3"
    await client.ack([got])
    for name in (split.original, *split.created):
        await client.delete_queue(name)
    await client.close()


def test_forwarding_keeps_the_body_headers_and_properties(rabbitmq_broker: RabbitMQ) -> None:
    asyncio.run(_kept(rabbitmq_broker))
