"""Kafka through aiokafka: a :class:`~podtap.backends.brokers.base.BrokerClient`.

A topic is the queue. Each (topic, group) is read by a consumer of that group with every
partition assigned by hand, not by joining the group: the forwarder is the one reader of
the original topic, and a join costs seconds of rebalancing. It starts from the group's
committed offsets (earliest when none) and an ack commits past the acked records, so
what was not acked is read again after a reconnect. Publishing keeps key, value (a
tombstone's ``None`` too), headers and timestamp (the same key lands in the same
partition, so per-key order holds), with ``acks=all``. Only the standard protocol is used,
so it runs on Kafka as on Tansu (the test broker; its ListOffsets answers are off by a
batch, so its ``depth`` is not exact). The producer retries a send by itself; across a
broker restart a retried batch can be written twice, which no one above it can see: set
``enable.idempotence`` where the broker has it (Kafka does, Tansu does not) and the broker
drops the second copy.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Iterator, Sequence
from typing import Any

from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, TopicPartition  # type: ignore[import-untyped]
from aiokafka.admin import AIOKafkaAdminClient, NewTopic  # type: ignore[import-untyped]
from aiokafka.errors import (  # type: ignore[import-untyped]
    KafkaConnectionError,
    KafkaError,
    KafkaTimeoutError,
    NodeNotReadyError,
    RequestTimedOutError,
)

from podtap.backends.brokers.base import (
    BrokerError,
    BrokerUnavailable,
    Delivery,
    Outgoing,
    unreachable,
)
from podtap.backends.brokers.settings import KafkaSettings
from podtap.core.queues import QueueKind, kafka_message

__all__ = ["KafkaClient"]

_UNREACHABLE = (
    KafkaConnectionError,
    KafkaTimeoutError,
    NodeNotReadyError,
    RequestTimedOutError,
    ConnectionError,
    OSError,
    asyncio.TimeoutError,
)
_TOPIC_EXISTS = 36
_UNKNOWN_TOPIC = 3


class KafkaClient:
    kind = QueueKind.KAFKA

    def __init__(self, settings: KafkaSettings) -> None:
        self.settings = settings
        self.address = settings.address
        self._producer: Any = None
        self._admin: Any = None
        self._consumers: dict[tuple[str, str], Any] = {}
        self._options: dict[str, Any] = {}  # security: the TLS context is made once

    def _unreachable(self, what: str, exc: BaseException) -> BrokerUnavailable:
        return unreachable("Kafka", self.address, what, exc, setting="bootstrap.servers")

    @contextlib.contextmanager
    def _errors(self, what: str) -> Iterator[None]:
        """The client's errors, as the broker interface's."""
        try:
            yield
        except _UNREACHABLE as exc:
            raise self._unreachable(what, exc) from None
        except KafkaError as exc:
            raise BrokerError(f"Kafka at {self.address}: cannot {what}: {exc}") from None

    async def connect(self) -> None:
        await self.close()
        servers = self.settings.bootstrap_servers
        self._options = self.settings.security.options()
        try:
            self._admin = AIOKafkaAdminClient(
                bootstrap_servers=servers, request_timeout_ms=10000, **self._options
            )
            await self._admin.start()
            self._producer = AIOKafkaProducer(
                bootstrap_servers=servers,
                acks="all",
                request_timeout_ms=10000,
                enable_idempotence=self.settings.idempotence,
                **self._options,
            )
            await self._producer.start()
        except _UNREACHABLE as exc:
            await self.close()
            raise self._unreachable("connect", exc) from None
        except KafkaError as exc:
            await self.close()
            raise BrokerError(f"Kafka at {self.address}: cannot connect: {exc}") from None

    async def close(self) -> None:
        consumers = list(self._consumers.values())
        producer, admin = self._producer, self._admin
        self._consumers.clear()
        self._producer = self._admin = None
        for client in (*consumers, producer):
            if client is not None:
                with contextlib.suppress(Exception):
                    await client.stop()
        if admin is not None:
            with contextlib.suppress(Exception):
                await admin.close()

    def _need(self, client: Any, what: str) -> Any:
        if client is None:
            raise BrokerUnavailable(f"not connected to Kafka at {self.address} to {what}")
        return client

    async def _partitions(self, topic: str) -> int:
        admin = self._need(self._admin, f"read topic {topic}")
        try:
            # asking for a topic's metadata creates it where auto.create.topics.enable is on
            # (Tansu, Kafka's default): look it up among all topics first
            if topic not in await admin.list_topics():
                raise BrokerError(f"Kafka at {self.address} has no topic {topic}")
            (found,) = await admin.describe_topics([topic])
        except _UNREACHABLE as exc:
            raise self._unreachable(f"read topic {topic}", exc) from None
        if found.get("error_code") or not found.get("partitions"):
            raise BrokerError(f"Kafka at {self.address} has no topic {topic}")
        return len(found["partitions"])

    async def create_queue(self, name: str, *, like: str | None = None) -> None:
        partitions = await self._partitions(like) if like is not None else 1
        admin = self._need(self._admin, f"create topic {name}")
        try:
            got = await admin.create_topics([NewTopic(name, partitions, 1)])
        except _UNREACHABLE as exc:
            raise self._unreachable(f"create topic {name}", exc) from None
        for _topic, code, message in got.topic_errors:
            if code not in (0, _TOPIC_EXISTS):
                raise BrokerError(
                    f"Kafka at {self.address} refused to create topic {name}: {message or code}"
                )

    async def delete_queue(self, name: str) -> None:
        for key in [k for k in self._consumers if k[0] == name]:
            with contextlib.suppress(Exception):
                await self._consumers.pop(key).stop()
        admin = self._need(self._admin, f"delete topic {name}")
        try:
            got = await admin.delete_topics([name])
        except _UNREACHABLE as exc:
            raise self._unreachable(f"delete topic {name}", exc) from None
        for _topic, code in got.topic_error_codes:
            if code not in (0, _UNKNOWN_TOPIC):
                raise BrokerError(f"Kafka at {self.address} refused to delete topic {name}")

    async def _consumer(self, topic: str, group: str) -> Any:
        if (topic, group) in self._consumers:
            return self._consumers[(topic, group)]
        partitions = await self._partitions(topic)
        consumer = AIOKafkaConsumer(
            bootstrap_servers=self.settings.bootstrap_servers,
            group_id=group,
            enable_auto_commit=False,
            auto_offset_reset="earliest",
            request_timeout_ms=10000,
            **self._options,
        )
        try:
            await consumer.start()
            consumer.assign([TopicPartition(topic, p) for p in range(partitions)])
        except _UNREACHABLE as exc:
            with contextlib.suppress(Exception):
                await consumer.stop()
            raise self._unreachable(f"read topic {topic}", exc) from None
        self._consumers[(topic, group)] = consumer
        return consumer

    async def receive(
        self, queue: str, *, max_messages: int, wait: float, group: str | None = None
    ) -> list[Delivery]:
        group = group or self.settings.group_id
        consumer = await self._consumer(queue, group)
        with self._errors(f"read topic {queue}"):
            got = await consumer.getmany(timeout_ms=int(wait * 1000), max_records=max_messages)
        return [_delivery(queue, group, r) for records in got.values() for r in records]

    async def ack(self, deliveries: Sequence[Delivery]) -> None:
        ends: dict[tuple[str, str], dict[Any, int]] = {}
        for d in deliveries:
            group, tp, offset = d.handle
            offsets = ends.setdefault((d.queue, group), {})
            offsets[tp] = max(offsets.get(tp, 0), offset + 1)
        for key, offsets in ends.items():
            consumer = self._need(self._consumers.get(key), "acknowledge records")
            with self._errors(f"commit offsets of {key[0]}"):
                await consumer.commit(offsets)

    async def release(self, deliveries: Sequence[Delivery]) -> None:
        starts: dict[tuple[str, str, Any], int] = {}
        for d in deliveries:
            group, tp, offset = d.handle
            key = (d.queue, group, tp)
            starts[key] = min(starts.get(key, offset), offset)
        for (queue, group, tp), offset in starts.items():
            if consumer := self._consumers.get((queue, group)):
                with contextlib.suppress(Exception):
                    consumer.seek(tp, offset)

    async def publish(self, queue: str, messages: Sequence[Outgoing]) -> None:
        producer = self._need(self._producer, f"publish to {queue}")
        with self._errors(f"publish to {queue}"):
            sent = [
                await producer.send(
                    queue,
                    None if m.properties.get("tombstone") else m.body,
                    key=m.key,
                    headers=list(m.headers),
                    timestamp_ms=m.properties.get("timestamp_ms"),
                )
                for m in messages
            ]
            await asyncio.gather(*sent)

    async def depth(self, queue: str, *, group: str | None = None) -> int | None:
        consumer = await self._consumer(queue, group or self.settings.group_id)
        try:
            parts = list(consumer.assignment())
            ends = await consumer.end_offsets(parts)
            lag = 0
            for tp in parts:
                lag += max(0, ends[tp] - (await consumer.committed(tp) or 0))
        except _UNREACHABLE as exc:
            raise self._unreachable(f"read offsets of {queue}", exc) from None
        return lag


def _delivery(queue: str, group: str, record: Any) -> Delivery:
    headers = tuple((str(k), bytes(v)) for k, v in record.headers)
    message = kafka_message(
        topic=record.topic,
        partition=record.partition,
        offset=record.offset,
        timestamp=record.timestamp,
        key=record.key,
        value=record.value,
        headers=list(headers),
    )
    properties = {"timestamp_ms": record.timestamp, "tombstone": record.value is None}
    outgoing = Outgoing(record.value or b"", headers, key=record.key, properties=properties)
    tp = TopicPartition(record.topic, record.partition)
    return Delivery(
        queue=queue,
        id=f"{record.topic}/{record.partition}/{record.offset}",
        message=message,
        outgoing=outgoing,
        handle=(group, tp, record.offset),
    )
