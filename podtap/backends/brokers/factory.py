"""The broker client for a split config's queue: its kind and its ``clientConfig``."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from podtap.backends.brokers.base import BrokerClient
from podtap.backends.brokers.kafka import KafkaClient
from podtap.backends.brokers.rabbitmq import RabbitClient
from podtap.backends.brokers.settings import kafka_settings, rabbit_settings, sqs_settings
from podtap.backends.brokers.sqs import SqsClient
from podtap.core.queues import QueueKind

__all__ = ["broker_client"]


def broker_client(kind: QueueKind, client_config: Mapping[str, Any]) -> BrokerClient:
    """A client, not yet connected; a ``clientConfig`` it cannot use is a ``BrokerError``."""
    if kind is QueueKind.SQS:
        return SqsClient(sqs_settings(client_config))
    if kind is QueueKind.RMQ:
        return RabbitClient(rabbit_settings(client_config))
    return KafkaClient(kafka_settings(client_config))
