"""One small interface over the three brokers a queue split drives: SQS, RabbitMQ, Kafka.

The forwarder and the drain (:mod:`podtap.backends.brokers.forwarder`) only know this
Protocol. A broker hands out :class:`Delivery` values: what a session's filter sees of the
message (``message``, built by :mod:`podtap.core.queues.messages`), the same message ready
to publish elsewhere (``outgoing``), an ``id`` that stays the same when the broker delivers
it again (to count and skip duplicates), and a handle only its own client reads. A delivery
stays the broker's until :meth:`BrokerClient.ack` (at-least-once: the forwarder acks only
after publishing it); a client that loses its connection raises :class:`BrokerUnavailable`,
and everything not acked comes back after :meth:`BrokerClient.connect`.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol

from podtap.core.queues import Message, QueueKind

__all__ = [
    "BrokerClient",
    "BrokerError",
    "BrokerUnavailable",
    "Delivery",
    "Outgoing",
    "unreachable",
]


class BrokerError(RuntimeError):
    """A broker refused what was asked; the message is one line saying what to do."""


class BrokerUnavailable(BrokerError):
    """The broker cannot be reached (or the connection broke); retrying may help."""


def unreachable(
    broker: str, address: str, what: str, exc: BaseException, *, setting: str
) -> BrokerUnavailable:
    """The one line for a broker that cannot be reached: where, doing what, what to check."""
    return BrokerUnavailable(
        f"cannot reach {broker} at {address} to {what} ({type(exc).__name__}): check that "
        f"it runs and that clientConfig's {setting} points to it"
    )


@dataclass(frozen=True, slots=True)
class Outgoing:
    """A message to publish, in the terms of its broker, so nothing a filter (or the
    consumer) sees changes on the way.

    ``headers``: SQS message attributes (name -> ``{"DataType", "StringValue" |
    "BinaryValue"}``, as the API gives them), RabbitMQ headers (AMQP field values), Kafka
    headers (name -> bytes; a name may repeat). ``key``: Kafka's record key.
    ``properties``: RabbitMQ's basic properties (``content_type``, ``message_id``,
    ``delivery_mode``, ...), SQS's ``MessageGroupId``/``MessageDeduplicationId`` (FIFO),
    Kafka's ``timestamp_ms`` and ``tombstone`` (the record's value is ``None``, not empty)."""

    body: bytes
    headers: tuple[tuple[str, Any], ...] = ()
    key: bytes | None = None
    properties: Mapping[str, Any] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class Delivery:
    """One message received from ``queue``, not yet acknowledged."""

    queue: str
    id: str | None
    message: Message
    outgoing: Outgoing
    redelivered: bool = False
    handle: Any = None


class BrokerClient(Protocol):
    """A connection to one broker (see the module's note). Names are the broker's: an SQS
    queue name, a RabbitMQ queue name, a Kafka topic."""

    kind: QueueKind
    #: where the broker is, for messages (no credentials)
    address: str

    async def connect(self) -> None:
        """Open (or reopen) the connection; :class:`BrokerUnavailable` names the address."""

    async def close(self) -> None:
        """Close it; deliveries not acked go back to the broker."""

    async def create_queue(self, name: str, *, like: str | None = None) -> None:
        """Create ``name`` (no error if it exists), shaped like queue ``like`` when given
        (SQS: FIFO or not; Kafka: as many partitions); durable where the broker has it."""

    async def delete_queue(self, name: str) -> None:
        """Delete ``name`` and whatever it still holds (no error if it is gone)."""

    async def receive(
        self, queue: str, *, max_messages: int, wait: float, group: str | None = None
    ) -> list[Delivery]:
        """Up to ``max_messages``, waiting at most ``wait`` seconds for the first.
        ``group``: Kafka's consumer group whose committed offsets to start from and advance
        (default: the client's ``group.id``); the other brokers ignore it."""

    async def ack(self, deliveries: Sequence[Delivery]) -> None:
        """Done with these: the broker forgets them (Kafka: commits past them)."""

    async def release(self, deliveries: Sequence[Delivery]) -> None:
        """Give these back now, to be delivered again (best effort)."""

    async def publish(self, queue: str, messages: Sequence[Outgoing]) -> None:
        """Publish to ``queue``; returns once the broker has them all (else raises)."""

    async def depth(self, queue: str, *, group: str | None = None) -> int | None:
        """How many messages ``queue`` still holds (Kafka: ``group``'s lag), ``None`` when
        the broker cannot say."""
