"""RabbitMQ through aio-pika: a :class:`~podtap.backends.brokers.base.BrokerClient`.

One connection, three kinds of channel: one consumes (manual acks, ``prefetch`` messages in
flight per queue, delivered into a buffer per queue that :meth:`RabbitClient.receive`
empties), one publishes with publisher confirms and ``mandatory`` (a message no queue takes
is an error, not a silent loss), and a short-lived one for each passive declare (a missing
queue closes the channel it is asked on). Queues this client creates are durable.
Publishing keeps the body, the headers and every basic property but ``user_id``
(RabbitMQ refuses a ``user_id`` other than the connection's own). The connection is plain,
not aio-pika's robust one: reconnecting is the forwarder's, so that it knows which
deliveries died with the old channel (the broker gives them back).
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Sequence
from typing import Any

import aio_pika
import aiormq
from aio_pika.abc import AbstractChannel, AbstractConnection, AbstractIncomingMessage

from podtap.backends.brokers.base import (
    BrokerError,
    BrokerUnavailable,
    Delivery,
    Outgoing,
    unreachable,
)
from podtap.backends.brokers.settings import RabbitSettings
from podtap.core.queues import QueueKind, rmq_message

__all__ = ["RabbitClient"]

_PROPERTIES = (
    "content_type",
    "content_encoding",
    "delivery_mode",
    "priority",
    "correlation_id",
    "reply_to",
    "expiration",
    "message_id",
    "timestamp",
    "type",
    "app_id",
)
_BROKEN = (
    aiormq.exceptions.AMQPConnectionError,
    aiormq.exceptions.ChannelInvalidStateError,
    ConnectionError,
    OSError,
    asyncio.TimeoutError,
)


class RabbitClient:
    kind = QueueKind.RMQ

    def __init__(self, settings: RabbitSettings, *, prefetch: int = 256) -> None:
        self.settings = settings
        self.address = settings.address
        self.prefetch = prefetch
        self._connection: AbstractConnection | None = None
        self._consume: AbstractChannel | None = None
        self._publish: AbstractChannel | None = None
        self._buffers: dict[str, asyncio.Queue[AbstractIncomingMessage]] = {}

    def _unreachable(self, what: str, exc: BaseException) -> BrokerUnavailable:
        return unreachable("RabbitMQ", self.address, what, exc, setting="url")

    async def connect(self) -> None:
        await self.close()
        try:
            self._connection = await aio_pika.connect(self.settings.url, timeout=5)
            self._consume = await self._connection.channel(publisher_confirms=False)
            await self._consume.set_qos(prefetch_count=self.prefetch)
            self._publish = await self._connection.channel(publisher_confirms=True)
        except aiormq.exceptions.ProbableAuthenticationError:
            await self.close()
            raise BrokerError(
                f"RabbitMQ at {self.address} refused the login: check clientConfig's url"
            ) from None
        except _BROKEN as exc:
            await self.close()
            raise self._unreachable("connect", exc) from None

    async def close(self) -> None:
        connection, self._connection = self._connection, None
        self._consume = self._publish = None
        self._buffers.clear()
        if connection is not None:
            with contextlib.suppress(Exception):
                await connection.close()

    def _channel(self, channel: AbstractChannel | None, what: str) -> AbstractChannel:
        if self._connection is None or self._connection.is_closed:
            raise BrokerUnavailable(f"lost RabbitMQ at {self.address} before it could {what}")
        if channel is None or channel.is_closed:
            raise BrokerUnavailable(f"RabbitMQ at {self.address} closed the channel to {what}")
        return channel

    def _refused(self, what: str, exc: BaseException) -> BrokerError:
        return BrokerError(f"RabbitMQ at {self.address} refused to {what}: {exc}")

    async def _passive(self, name: str) -> int:
        """The ready messages of ``name``; :class:`BrokerError` if it does not exist."""
        connection = self._connection
        if connection is None or connection.is_closed:
            raise BrokerUnavailable(f"lost RabbitMQ at {self.address} before reading {name}")
        try:
            async with connection.channel(publisher_confirms=False) as channel:
                queue = await channel.declare_queue(name, passive=True)
                return int(queue.declaration_result.message_count or 0)
        except aiormq.exceptions.ChannelNotFoundEntity:
            raise BrokerError(f"RabbitMQ at {self.address} has no queue {name}") from None
        except _BROKEN as exc:
            raise self._unreachable(f"read queue {name}", exc) from None
        except aiormq.exceptions.AMQPError as exc:
            raise self._refused(f"read queue {name}", exc) from None

    async def create_queue(self, name: str, *, like: str | None = None) -> None:
        channel = self._channel(self._publish, f"create queue {name}")
        try:
            await channel.declare_queue(name, durable=True)
        except aiormq.exceptions.ChannelPreconditionFailed as exc:
            raise BrokerError(
                f"RabbitMQ at {self.address} has a queue {name} of another kind: {exc}"
            ) from None
        except _BROKEN as exc:
            raise self._unreachable(f"create queue {name}", exc) from None
        except aiormq.exceptions.AMQPError as exc:
            raise self._refused(f"create queue {name}", exc) from None

    async def delete_queue(self, name: str) -> None:
        channel = self._channel(self._publish, f"delete queue {name}")
        self._buffers.pop(name, None)
        try:
            await channel.queue_delete(name)
        except _BROKEN as exc:
            raise self._unreachable(f"delete queue {name}", exc) from None
        except aiormq.exceptions.AMQPError as exc:
            raise self._refused(f"delete queue {name}", exc) from None

    async def _buffer(self, queue: str) -> asyncio.Queue[AbstractIncomingMessage]:
        if queue in self._buffers:
            return self._buffers[queue]
        await self._passive(queue)
        channel = self._channel(self._consume, f"consume queue {queue}")
        buffer: asyncio.Queue[AbstractIncomingMessage] = asyncio.Queue()

        async def take(message: AbstractIncomingMessage) -> None:
            buffer.put_nowait(message)

        try:
            found = await channel.get_queue(queue, ensure=False)
            await found.consume(take, no_ack=False)
        except _BROKEN as exc:
            raise self._unreachable(f"consume queue {queue}", exc) from None
        except aiormq.exceptions.AMQPError as exc:
            raise self._refused(f"consume queue {queue}", exc) from None
        self._buffers[queue] = buffer
        return buffer

    async def receive(
        self, queue: str, *, max_messages: int, wait: float, group: str | None = None
    ) -> list[Delivery]:
        buffer = await self._buffer(queue)
        got: list[AbstractIncomingMessage] = []
        if buffer.empty():
            with contextlib.suppress(asyncio.TimeoutError):
                got.append(await asyncio.wait_for(buffer.get(), timeout=wait))
        while len(got) < max_messages and not buffer.empty():
            got.append(buffer.get_nowait())
        if not got:
            self._channel(self._consume, f"consume queue {queue}")  # raises when it broke
        return [_delivery(queue, m) for m in got]

    async def ack(self, deliveries: Sequence[Delivery]) -> None:
        try:
            for d in deliveries:
                await d.handle.ack()
        except _BROKEN as exc:
            raise self._unreachable("acknowledge messages", exc) from None

    async def release(self, deliveries: Sequence[Delivery]) -> None:
        with contextlib.suppress(Exception):
            for d in deliveries:
                await d.handle.nack(requeue=True)

    async def publish(self, queue: str, messages: Sequence[Outgoing]) -> None:
        channel = self._channel(self._publish, f"publish to {queue}")
        exchange = channel.default_exchange
        try:
            await asyncio.gather(
                *(exchange.publish(_message(m), routing_key=queue, timeout=30) for m in messages)
            )
        except (aio_pika.exceptions.DeliveryError, aiormq.exceptions.PublishError) as exc:
            raise BrokerError(
                f"RabbitMQ at {self.address} did not take a message for queue {queue} "
                f"(does the queue exist?): {exc}"
            ) from None
        except _BROKEN as exc:
            raise self._unreachable(f"publish to {queue}", exc) from None
        except aiormq.exceptions.AMQPError as exc:
            raise self._refused(f"publish to {queue}", exc) from None

    async def depth(self, queue: str, *, group: str | None = None) -> int | None:
        return await self._passive(queue)


def _delivery(queue: str, message: AbstractIncomingMessage) -> Delivery:
    headers = dict(message.headers or {})
    properties: dict[str, Any] = {k: getattr(message, k) for k in _PROPERTIES}
    return Delivery(
        queue=queue,
        id=message.message_id,
        message=rmq_message(headers, message.body),
        outgoing=Outgoing(message.body, tuple(headers.items()), properties=properties),
        redelivered=bool(message.redelivered),
        handle=message,
    )


def _message(outgoing: Outgoing) -> aio_pika.Message:
    properties = {k: v for k, v in outgoing.properties.items() if k in _PROPERTIES}
    return aio_pika.Message(outgoing.body, headers=dict(outgoing.headers), **properties)
