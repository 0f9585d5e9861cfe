"""Each real broker carries a message with its attributes or headers through the client
podtap uses for it, and leaves nothing behind when stopped."""

from __future__ import annotations

import asyncio
import json
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import aio_pika
from aiobotocore.session import get_session
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer

from podtap.core.queues import (
    QueueKind,
    compile_queue_filter,
    kafka_message,
    rmq_message,
    sqs_message,
)
from podtap.testing.brokers import Kafka, RabbitMQ, Sqs, kafka, sqs, unique_name
from podtap.testing.wait import wait_until


async def _sqs_round_trip(broker: Sqs) -> dict[str, Any]:
    session = get_session()
    async with session.create_client(
        "sqs",
        endpoint_url=broker.endpoint_url,
        region_name=broker.region,
        aws_access_key_id=broker.access_key,
        aws_secret_access_key=broker.secret_key,
    ) as client:
        url = (await client.create_queue(QueueName=unique_name("orders")))["QueueUrl"]
        await client.send_message(
            QueueUrl=url,
            MessageBody=json.dumps({"id": 7}),
            MessageAttributes={"tenant": {"DataType": "String", "StringValue": "alice"}},
        )
        got = await client.receive_message(
            QueueUrl=url, MessageAttributeNames=["All"], WaitTimeSeconds=5
        )
        (message,) = got["Messages"]
        await client.delete_message(QueueUrl=url, ReceiptHandle=message["ReceiptHandle"])
        return dict(message)


def test_sqs_carries_a_message_with_its_attributes(sqs_broker: Sqs) -> None:
    message = asyncio.run(_sqs_round_trip(sqs_broker))
    assert json.loads(message["Body"]) == {"id": 7}
    assert message["MessageAttributes"]["tenant"]["StringValue"] == "alice"
    seen = sqs_message(message)  # what a session's filter sees of the real message
    jq = '.MessageAttributes.tenant.StringValue == "alice" and (.Body | fromjson | .id == 7)'
    assert compile_queue_filter(queue_id="orders", kind=QueueKind.SQS, jq_filter=jq).matches(seen)
    regex = compile_queue_filter(
        queue_id="orders", kind=QueueKind.SQS, message_filter={"tenant": "^alice$"}
    )
    assert regex.matches(seen)


async def _rabbit_round_trip(broker: RabbitMQ) -> aio_pika.abc.AbstractIncomingMessage:
    connection = await aio_pika.connect_robust(broker.url)
    async with connection:
        channel = await connection.channel()
        queue = await channel.declare_queue(unique_name("orders"), auto_delete=True)
        body = aio_pika.Message(b'{"id": 7}', headers={"tenant": "alice"})
        await channel.default_exchange.publish(body, routing_key=queue.name)
        async with queue.iterator(timeout=10) as messages:
            async for message in messages:
                async with message.process():
                    return message
    raise AssertionError("no message came back")


def test_rabbitmq_carries_a_message_with_its_headers(rabbitmq_broker: RabbitMQ) -> None:
    message = asyncio.run(_rabbit_round_trip(rabbitmq_broker))
    assert message.body == b'{"id": 7}'
    assert message.headers == {"tenant": "alice"}
    seen = rmq_message(message.headers, message.body)
    mine = compile_queue_filter(
        queue_id="work", kind=QueueKind.RMQ, message_filter={"tenant": "ali"}
    )
    assert mine.matches(seen)


async def _kafka_round_trip(broker: Kafka) -> Any:
    topic = unique_name("orders")
    producer = AIOKafkaProducer(bootstrap_servers=broker.bootstrap_servers)
    await producer.start()
    try:
        await producer.send_and_wait(topic, b'{"id": 7}', headers=[("tenant", b"alice")])
    finally:
        await producer.stop()
    consumer = AIOKafkaConsumer(
        topic,
        bootstrap_servers=broker.bootstrap_servers,
        group_id=unique_name("workers"),
        auto_offset_reset="earliest",
    )
    await consumer.start()
    try:
        return await asyncio.wait_for(consumer.getone(), timeout=20)
    finally:
        await consumer.stop()


def test_kafka_carries_a_record_with_its_headers(kafka_broker: Kafka) -> None:
    record = asyncio.run(_kafka_round_trip(kafka_broker))
    assert record.value == b'{"id": 7}'
    assert list(record.headers) == [("tenant", b"alice")]
    seen = kafka_message(
        topic=record.topic,
        partition=record.partition,
        offset=record.offset,
        timestamp=record.timestamp,
        key=record.key,
        value=record.value,
        headers=list(record.headers),
    )
    jq = '.headers.tenant == "alice" and (.payload | fromjson | .id == 7) and .offset == 0'
    assert compile_queue_filter(queue_id="events", kind=QueueKind.KAFKA, jq_filter=jq).matches(seen)


def test_a_stopped_broker_leaves_no_process_port_or_directory() -> None:
    with sqs() as queue_broker, kafka() as log_broker:
        assert queue_broker.leftovers() and log_broker.leftovers()  # running: all there
    assert queue_broker.leftovers() == []
    assert log_broker.leftovers() == []


def test_a_failing_test_still_stops_its_broker() -> None:
    seen: list[Kafka] = []
    try:
        with kafka() as broker:
            seen.append(broker)
            raise RuntimeError("the test failed")
    except RuntimeError:
        pass
    assert seen and seen[0].leftovers() == []


def test_a_test_runner_killed_with_sigkill_takes_its_brokers_along() -> None:
    script = (
        "import sys\n"
        "from podtap.testing.brokers import kafka, sqs\n"
        "with sqs() as a, kafka() as b:\n"
        "    print(a.pid, a.dir, b.pid, b.dir, flush=True)\n"
        "    sys.stdin.read()\n"
    )
    runner = subprocess.Popen(
        [sys.executable, "-c", script], stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True
    )
    dirs: list[str] = []
    try:
        assert runner.stdout is not None
        sqs_pid, sqs_dir, kafka_pid, kafka_dir = runner.stdout.readline().split()
        dirs += [sqs_dir, kafka_dir]  # a SIGKILL leaves them: ours to remove
        pids = [int(sqs_pid), int(kafka_pid)]
        assert all(process_alive(pid) for pid in pids)
        runner.kill()
        runner.wait(10)
        wait_until(
            lambda: not any(process_alive(pid) for pid in pids),
            timeout=10,
            what="the brokers to die with their runner",
        )
    finally:
        runner.kill()
        runner.wait(10)
        for path in dirs:
            shutil.rmtree(path, ignore_errors=True)


def process_alive(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rpartition(")")[2].split()[0]
    except OSError:
        return False
    return state != "Z"
