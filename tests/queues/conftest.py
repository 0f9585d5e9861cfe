"""Real brokers on loopback: one RabbitMQ per test session (it takes ~9 s to start), a
fresh moto SQS and Tansu Kafka per test module; tests keep apart by unique names. Each
checks, once stopped, that it left no process, port or directory."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from podtap.testing.brokers import Kafka, RabbitMQ, Sqs, kafka, rabbitmq, sqs

pytest.register_assert_rewrite("tests.queues.scenario")


@pytest.fixture(scope="session")
def rabbitmq_broker() -> Iterator[RabbitMQ]:
    with rabbitmq() as broker:
        yield broker
    assert broker.leftovers() == []


@pytest.fixture(scope="module")
def sqs_broker() -> Iterator[Sqs]:
    with sqs() as broker:
        yield broker
    assert broker.leftovers() == []


@pytest.fixture(scope="module")
def kafka_broker() -> Iterator[Kafka]:
    with kafka() as broker:
        yield broker
    assert broker.leftovers() == []


@pytest.fixture(scope="module")
def durable_kafka(sqs_broker: Sqs) -> Iterator[Kafka]:
    """Tansu keeping its records in moto's S3, so that they survive a restart."""
    with kafka(s3=sqs_broker) as broker:
        yield broker
    assert broker.leftovers() == []
