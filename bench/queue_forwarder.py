"""Benchmark: messages per second through the queue-split forwarder vs the broker direct.

Run: `python bench/queue_forwarder.py [--messages 2000] [--sqs-messages 300]
[--brokers sqs,rmq,kafka] [--rounds 3]` (moto's SQS is slow: ~50 msg/s, so it gets fewer).
Starts each real broker on loopback (moto's SQS, RabbitMQ, Tansu's Kafka, as the tests
do), then in one run per broker:
  direct     a producer publishes N messages (in batches of 100) to a queue while a consumer
             receives and acks them: N / the time until the last is acked
  forwarder  the same N messages to a split's original queue, which the forwarder routes by
             two sessions' filters to their queues and the rest to the fallback queue, each
             read by its own consumer: N / the time until the last is acked at its destination
and prints the median of ``--rounds`` rounds of each (interleaved) and forwarder/direct.
Each message is published and consumed once directly, twice through the forwarder, so 0.5
is the ratio of a forwarder that costs nothing beyond the second hop.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import statistics
import sys
import time
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from podtap.backends.brokers.base import BrokerClient
from podtap.backends.brokers.factory import broker_client
from podtap.core.queues import QueueKind
from podtap.testing.brokers import kafka, rabbitmq, sqs, unique_name
from tests.queues.scenario import (
    forwarder,
    kafka_config,
    make_split,
    publish,
    rabbit_config,
    sqs_config,
)


class Seen:
    """Messages acked by every reader together, and when the last one was."""

    def __init__(self, total: int) -> None:
        self.total, self.count, self.done = total, 0, 0.0

    def add(self, count: int) -> None:
        self.count += count
        if self.count >= self.total and not self.done:
            self.done = time.perf_counter()


async def _read(client: BrokerClient, queue: str, seen: Seen) -> None:
    """Receive and ack from ``queue`` until every reader together has acked them all."""
    while seen.count < seen.total:
        batch = await client.receive(queue, max_messages=100, wait=0.5, group="bench")
        if batch:
            await client.ack(batch)
            seen.add(len(batch))


async def _connected(kind: QueueKind, config: Mapping[str, Any], count: int) -> list[BrokerClient]:
    clients = [broker_client(kind, config) for _ in range(count)]
    for client in clients:
        await client.connect()
    return clients


async def direct(kind: QueueKind, config: Mapping[str, Any], n: int) -> float:
    producer, consumer = await _connected(kind, config, 2)
    queue = unique_name("direct")
    await producer.create_queue(queue)
    seen = Seen(n)
    started = time.perf_counter()
    reading = asyncio.ensure_future(_read(consumer, queue, seen))
    await publish(producer, queue, list(range(n)))
    await reading
    elapsed = seen.done - started
    await producer.delete_queue(queue)
    for client in (producer, consumer):
        await client.close()
    return n / elapsed


async def forwarded(kind: QueueKind, config: Mapping[str, Any], n: int) -> float:
    (producer,) = await _connected(kind, config, 1)
    split = await make_split(producer, prefix="bench")
    readers = await _connected(kind, config, len(split.created))
    fwd = forwarder(kind, config, split)
    fwd.start()
    await fwd.connected.wait()
    seen = Seen(n)
    started = time.perf_counter()
    reading = [
        asyncio.ensure_future(_read(r, q, seen))
        for r, q in zip(readers, split.created, strict=True)
    ]
    await publish(producer, split.original, list(range(n)))
    await asyncio.gather(*reading)
    elapsed = seen.done - started
    stats = await fwd.stop()
    assert stats.forwarded == n, stats
    for name in (split.original, *split.created):
        await producer.delete_queue(name)
    for client in (producer, *readers):
        await client.close()
    return n / elapsed


@contextlib.contextmanager
def started(kind: QueueKind) -> Iterator[dict[str, str]]:
    if kind is QueueKind.SQS:
        with sqs() as q:
            yield sqs_config(q)
    elif kind is QueueKind.RMQ:
        with rabbitmq() as r:
            yield rabbit_config(r)
    else:
        with kafka() as k:
            yield kafka_config(k)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--messages", type=int, default=2000)
    parser.add_argument("--sqs-messages", type=int, default=300)
    parser.add_argument("--brokers", default="sqs,rmq,kafka")
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()
    rows = []
    for name in args.brokers.split(","):
        kind = QueueKind(name)
        bases, throughs = [], []
        n = args.sqs_messages if kind is QueueKind.SQS else args.messages
        with started(kind) as config:
            asyncio.run(direct(kind, config, 100))  # warm up: connections, first fetches
            for _ in range(args.rounds):  # interleaved, so that a noisy minute hits both
                bases.append(asyncio.run(direct(kind, config, n)))
                throughs.append(asyncio.run(forwarded(kind, config, n)))
        base, through = statistics.median(bases), statistics.median(throughs)
        rows.append((name, base, through))
        print(f"{name}: direct {base:,.0f} msg/s, forwarder {through:,.0f} msg/s", flush=True)
    print(f"\n{'broker':<7} {'direct msg/s':>13} {'forwarder msg/s':>16} {'ratio':>6}")
    for name, base, through in rows:
        print(f"{name:<7} {base:>13,.0f} {through:>16,.0f} {through / base:>6.2f}")


if __name__ == "__main__":
    main()
