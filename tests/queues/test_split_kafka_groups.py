"""A Kafka split through the operator's broker side (``SplitBrokers``) on a real
Kafka-protocol broker (Tansu), with the workload's consumer group as Kafka apps have it.

The workload, the sessions' processes (which keep the pod's group in their env) and the
split all read as the split config's ``group.id``: the forwarder picks the original up
where the workload's group had got to, each drain moves only what a split topic's
consumers had not committed, and the restored workload reads the original from where the
forwarder stopped. So every record is consumed once across the whole split: none twice,
none skipped. A Kafka split without ``group.id`` cannot know that group, and is refused.
"""

from __future__ import annotations

import asyncio
from collections import Counter

import pytest

from podtap.backends.brokers.base import BrokerError
from podtap.backends.brokers.factory import broker_client
from podtap.core.ids import SessionId
from podtap.core.queues import (
    FALLBACK_ID,
    QueueKind,
    compile_queue_filter,
    parse_split_config,
    plan_split,
    render_queue_name,
)
from podtap.core.queues.models import DEFAULT_TMP_NAME_TEMPLATE
from podtap.operator.queue_split_brokers import SplitBrokers
from podtap.testing.brokers import Kafka, unique_name
from podtap.testing.wait import async_wait_until
from tests.queues.scenario import number, publish

GROUP = "events-processor"
ALICE = SessionId(7)


def _plan(config: dict[str, str], original: str) -> SplitBrokers:
    spec = {
        "targetRef": {"kind": "Deployment", "name": "events-processor"},
        "queues": [{"id": "events", "kind": "kafka", "clientConfig": config,
                    "appConfig": {"env": "EVENTS_TOPIC"}}],
    }  # fmt: skip
    pod = {"containers": [{"name": "app", "env": [{"name": "EVENTS_TOPIC", "value": original}]}]}
    return SplitBrokers(plan_split(parse_split_config(spec), pod))


async def _consume(config: dict[str, str], topic: str, *, up_to: int | None = None) -> list[int]:
    """What a process of its own consuming ``topic`` as ``GROUP`` gets (at most ``up_to``),
    committed as consumed before it goes."""
    client = broker_client(QueueKind.KAFKA, config)
    await client.connect()
    got: list[int] = []
    try:
        while up_to is None or len(got) < up_to:
            want = 100 if up_to is None else min(10, up_to - len(got))
            batch = await client.receive(topic, max_messages=want, wait=3.0, group=GROUP)
            if not batch:
                break
            await client.ack(batch)
            got += [number(d.outgoing.body) for d in batch]
    finally:
        await client.close()
    return got


async def _split_once(config: dict[str, str]) -> None:
    app = broker_client(QueueKind.KAFKA, config)
    await app.connect()
    original = unique_name("events")
    await app.create_queue(original)
    name = {o: render_queue_name(DEFAULT_TMP_NAME_TEMPLATE, kind=QueueKind.KAFKA,
                                 original=original, session=o)
            for o in (FALLBACK_ID, "0000000000000007")}  # fmt: skip
    fallback, mine = name[FALLBACK_ID], name["0000000000000007"]
    brokers = _plan(config, original)
    try:
        await publish(app, original, list(range(40)))
        before = await _consume(config, original, up_to=10)  # the workload before the split
        for queue in (fallback, mine):
            await brokers.create(queue, original=original)
        alice = compile_queue_filter(
            queue_id="events", kind=QueueKind.KAFKA, message_filter={"tenant": "^alice$"}
        )
        brokers.route(fallback={original: fallback}, queues={ALICE: {original: mine}},
                      filters={ALICE: {original: alice}})  # fmt: skip
        await publish(app, original, list(range(40, 80)))
        await async_wait_until(
            lambda: sum(brokers.counts().values()) >= 70, timeout=60, what="70 forwarded"
        )
        hers = await _consume(config, mine, up_to=5)  # her process, then it goes
        workload = await _consume(config, fallback, up_to=20)  # the pods on the fallback
        await brokers.stop_forwarding()
        assert sum(brokers.counts().values()) == 70  # 10..79: not what the workload had read
        moved = {
            q: (await brokers.drain(q, into=original, timeout=10))[0] for q in (mine, fallback)
        }
        share = len([n for n in range(10, 80) if n % 4 == 0])
        assert moved == {mine: share - 5, fallback: 70 - share - 20}  # what they had not read
        after = await _consume(config, original)  # the restored workload
        everything = Counter(before + hers + workload + after)
        assert sorted(everything) == list(range(80)), sorted(set(range(80)) - set(everything))
        assert [n for n, k in everything.items() if k > 1] == []  # none twice
    finally:
        await brokers.close()
        for queue in (original, fallback, mine):
            await app.delete_queue(queue)
        await app.close()


def test_a_split_reads_as_the_workloads_group_and_every_record_is_consumed_once(
    kafka_broker: Kafka,
) -> None:
    config = {"bootstrap.servers": kafka_broker.bootstrap_servers, "group.id": GROUP}
    asyncio.run(_split_once(config))


async def _without_group(config: dict[str, str]) -> str:
    brokers = _plan(config, "events")
    try:
        await brokers.create("podtap-tmp-fallback-events", original="events")
    except BrokerError as exc:
        return str(exc)
    finally:
        await brokers.close()
    raise AssertionError("a Kafka split without group.id made a topic")


def test_a_kafka_split_without_group_id_is_refused_in_one_line(kafka_broker: Kafka) -> None:
    said = asyncio.run(_without_group({"bootstrap.servers": kafka_broker.bootstrap_servers}))
    assert said.startswith("clientConfig: a Kafka split needs group.id"), said
    assert "\n" not in said


@pytest.mark.parametrize("key", ["group.id", "groupId", "GROUP_ID"])
def test_group_id_is_read_however_it_is_spelled(kafka_broker: Kafka, key: str) -> None:
    config = {"bootstrap.servers": kafka_broker.bootstrap_servers, key: GROUP}
    asyncio.run(_made(config))


async def _made(config: dict[str, str]) -> None:
    brokers = _plan(config, "spelled")
    client = broker_client(QueueKind.KAFKA, config)
    await client.connect()
    try:
        await client.create_queue("spelled")
        await brokers.create("podtap-tmp-fallback-spelled", original="spelled")
    finally:
        await brokers.close()
        for queue in ("spelled", "podtap-tmp-fallback-spelled"):
            await client.delete_queue(queue)
        await client.close()
