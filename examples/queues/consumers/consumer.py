"""A queue consumer, as the deployed workloads of examples/queues run it (and a developer
runs it locally with `podtap exec`): it reads the queue its env names and prints one line
per message, ``got ID`` (the message body's ``n``, else its broker id), acknowledging each
batch once printed (and appended to ``--record PATH``, when given: a file, or a directory
where each pod appends to ``HOSTNAME.log``).

    python consumer.py sqs      # QUEUE_URL, SQS_ENDPOINT (AWS_REGION, AWS_ACCESS_KEY_ID, ...)
    python consumer.py rmq      # PAYMENTS_QUEUE, RABBITMQ_URL
    python consumer.py kafka    # EVENTS_TOPIC, KAFKA_BOOTSTRAP, KAFKA_GROUP

``--idle``: say which queue, then read nothing until stopped (a developer's process that has
not started consuming: what its session's queue holds is drained back when it ends).

It uses podtap's own broker clients (aiobotocore, aio-pika, aiokafka underneath). SIGTERM
or SIGINT: it finishes the batch in hand (acked), closes and exits 0.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import signal
import sys
from pathlib import Path
from typing import Any

from podtap.backends.brokers.base import BrokerError, Delivery
from podtap.backends.brokers.factory import broker_client
from podtap.core.queues import QueueKind


def _where(kind: QueueKind) -> tuple[str, dict[str, Any]]:
    """The queue to read and the client's settings, from the environment."""
    env = os.environ
    if kind is QueueKind.SQS:
        config = {
            "endpointUrl": env.get("SQS_ENDPOINT"),
            "region": env.get("AWS_REGION", "us-east-1"),
            "accessKeyId": env.get("AWS_ACCESS_KEY_ID"),
            "secretAccessKey": env.get("AWS_SECRET_ACCESS_KEY"),
        }
        return env["QUEUE_URL"].rstrip("/").rsplit("/", 1)[-1], config
    if kind is QueueKind.RMQ:
        return env["PAYMENTS_QUEUE"], {"url": env["RABBITMQ_URL"]}
    config = {"bootstrap.servers": env["KAFKA_BOOTSTRAP"], "group.id": env["KAFKA_GROUP"]}
    return env["EVENTS_TOPIC"], config


def _id(delivery: Delivery) -> str:
    try:
        return str(json.loads(delivery.outgoing.body)["n"])
    except (ValueError, KeyError, TypeError):
        return str(delivery.id)


async def consume(kind: QueueKind, record: Path | None, *, idle: bool = False) -> None:
    queue, config = _where(kind)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    print(f"consuming {queue}", flush=True)
    if idle:
        await stop.wait()
        return
    client = broker_client(kind, config)
    connected = False
    while not stop.is_set():
        try:
            if not connected:
                await client.connect()
                connected = True
            batch = await client.receive(queue, max_messages=10, wait=1.0)
            if batch:
                lines = "".join(f"got {_id(d)}\n" for d in batch)
                sys.stdout.write(lines)
                sys.stdout.flush()
                if record is not None:
                    with record.open("a") as out:
                        out.write(lines)
                await client.ack(batch)
        except BrokerError as exc:  # the broker is away (or the queue not there yet)
            print(f"waiting: {exc}", file=sys.stderr, flush=True)
            connected = False
            await client.close()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), timeout=1.0)
    await client.close()


def main() -> None:
    kind, options = QueueKind(sys.argv[1]), sys.argv[2:]
    record = Path(options[1]) if options[:1] == ["--record"] and len(options) > 1 else None
    if record is not None and record.is_dir():
        record = record / f"{os.uname().nodename}.log"
    asyncio.run(consume(kind, record, idle="--idle" in options))


if __name__ == "__main__":
    main()
