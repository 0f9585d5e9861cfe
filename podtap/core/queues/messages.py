"""What the filters see of a message of each broker, built from what its client returns.

``message_filter`` reads attributes (SQS ``MessageAttributes``' string values) or headers
(RabbitMQ, Kafka) as text. ``jq_filter`` runs on the JSON representation mirrord defines:
for SQS the ``Message`` object of the SQS API as it is (``Body``, ``MessageAttributes``
with their ``StringValue``/``DataType``, ``Attributes``, ...); for Kafka an object with
``topic``, ``partition``, ``offset``, ``timestamp`` (ms, when the record has one), ``key``,
``payload`` and ``headers`` (name -> value), where key, payload and header values are UTF-8
text, or base64 when they are not valid UTF-8. RabbitMQ has no jq filter.
"""

from __future__ import annotations

import base64
from collections.abc import Mapping, Sequence
from typing import Any

from podtap.core.queues.filters import Message

__all__ = ["kafka_message", "rmq_message", "sqs_message", "text_or_base64"]


def text_or_base64(data: bytes | None) -> str | None:
    if data is None:
        return None
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError:
        return base64.b64encode(data).decode("ascii")


def sqs_message(message: Mapping[str, Any]) -> Message:
    """An SQS ``Message`` (``receive_message(...)["Messages"][i]``, asked with
    ``MessageAttributeNames=["All"]``)."""
    attributes = {
        name: str(value["StringValue"])
        for name, value in (message.get("MessageAttributes") or {}).items()
        if "StringValue" in value
    }
    body = str(message.get("Body", "")).encode("utf-8")
    return Message(attributes, body, document=dict(message))


def kafka_message(
    *,
    topic: str,
    partition: int,
    offset: int,
    timestamp: int | None,
    key: bytes | None,
    value: bytes | None,
    headers: Sequence[tuple[str, bytes]],
) -> Message:
    """A Kafka record, as aiokafka's ``ConsumerRecord`` carries it (a later header of the
    same name wins, as in a JSON object)."""
    texts = {name: text_or_base64(data) or "" for name, data in headers}
    document: dict[str, Any] = {
        "topic": topic,
        "partition": partition,
        "offset": offset,
        "key": text_or_base64(key),
        "payload": text_or_base64(value),
        "headers": texts,
    }
    if timestamp is not None:
        document["timestamp"] = timestamp
    return Message(texts, value or b"", document=document)


def rmq_message(headers: Mapping[str, object] | None, body: bytes) -> Message:
    """A RabbitMQ message: its headers as text (bytes decoded, other values as ``str``)."""
    texts = {}
    for name, value in (headers or {}).items():
        texts[name] = text_or_base64(value) or "" if isinstance(value, bytes) else str(value)
    return Message(texts, body)
