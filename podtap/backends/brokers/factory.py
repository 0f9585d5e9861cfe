"""The broker client for a split config's queue: its kind and its ``clientConfig``."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from podtap.backends.brokers.base import BrokerClient
from podtap.backends.brokers.settings import kafka_settings, rabbit_settings, sqs_settings
from podtap.core.queues import QueueKind

__all__ = ["broker_client"]


def broker_client(kind: QueueKind, client_config: Mapping[str, Any]) -> BrokerClient:
    """A client, not yet connected; a ``clientConfig`` it cannot use is a ``BrokerError``."""
    # Each broker's library is imported when a split first needs it, not when the operator
    # starts: a restarted operator is back sooner (its clients wait out the gap).
    if kind is QueueKind.SQS:
        from podtap.backends.brokers.sqs import SqsClient

        return SqsClient(sqs_settings(client_config))
    if kind is QueueKind.RMQ:
        from podtap.backends.brokers.rabbitmq import RabbitClient

        return RabbitClient(rabbit_settings(client_config))
    from podtap.backends.brokers.kafka import KafkaClient

    return KafkaClient(kafka_settings(client_config))
