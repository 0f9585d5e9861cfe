"""``feature.split_queues`` and ``feature.copy_target``.

mirrord takes ``split_queues`` as a map keyed by queue id or as a list of entries carrying a
``queue_id`` (the same id may appear twice, on two brokers); both become the list, as in
mirrord's own ``SplitQueuesConfig``. The operator splits SQS, RMQ and Kafka queues
(docs/queues.md); the loader warns of the other types, and of ``copy_target``, which podtap
does not carry out (:func:`podtap.core.config.known_keys.not_acted`).
"""

from __future__ import annotations

from enum import StrEnum
from typing import Any

from pydantic import Field, ValidationInfo, field_validator, model_validator

from podtap.core.config.fields import Model, check_regex
from podtap.core.jqprog import compile_jq

__all__ = [
    "CopyTargetConfig",
    "QueueMode",
    "QueueSplitConfig",
    "QueueType",
    "copy_target_shorthand",
    "split_queues_shorthand",
]


class QueueType(StrEnum):
    """mirrord's queue types; ``RabbitMQ`` (podtap's former spelling) reads as ``RMQ``, and
    case does not matter."""

    SQS = "SQS"
    KAFKA = "Kafka"
    RMQ = "RMQ"
    GCP_PUBSUB = "GCPPubSub"
    AZURE_SERVICE_BUS = "AzureServiceBus"
    REDIS_PUBSUB = "RedisPubSub"
    TEMPORAL = "Temporal"
    BULLMQ = "BullMQ"

    @classmethod
    def _missing_(cls, value: object) -> QueueType | None:
        if isinstance(value, str):
            wanted = "rmq" if value.lower() == "rabbitmq" else value.lower()
            for member in cls:
                if member.value.lower() == wanted:
                    return member
        return None


class QueueMode(StrEnum):
    """``steal`` (default): a matched message goes to this session only; ``mirror``: to the
    session and to the deployed application."""

    STEAL = "steal"
    MIRROR = "mirror"


class QueueSplitConfig(Model):
    """One entry of ``feature.split_queues``: messages of queue ``queue_id`` whose attributes
    (SQS) or headers (Kafka, RabbitMQ, ...) match every regex of ``message_filter`` and, if
    set, for which the jq program ``jq_filter`` outputs ``true`` go to this session.

    ``jq_filter`` is compiled here, by the real jq, so a program that does not compile is a
    config error naming its queue before anything connects; mirrord has none for RabbitMQ,
    so there it is refused rather than ignored (ignored, the session would take messages
    its author meant to leave)."""

    queue_id: str
    queue_type: QueueType = QueueType.SQS
    message_filter: dict[str, str] = Field(default_factory=dict)
    jq_filter: str | None = None
    queue_mode: QueueMode = QueueMode.STEAL

    @field_validator("message_filter")
    @classmethod
    def _regexes(cls, v: dict[str, str]) -> dict[str, str]:
        for regex in v.values():
            check_regex(regex)
        return v

    @field_validator("jq_filter")
    @classmethod
    def _jq(cls, v: str | None, info: ValidationInfo) -> str | None:
        if v is not None:
            queue = info.data.get("queue_id")
            try:
                compile_jq(v)
            except ValueError as exc:
                raise ValueError(f"{exc} (queue {queue!r})" if queue else str(exc)) from None
        return v

    @model_validator(mode="after")
    def _jq_where_mirrord_has_it(self) -> QueueSplitConfig:
        if self.jq_filter is not None and self.queue_type is QueueType.RMQ:
            raise ValueError(
                f"jq_filter: RMQ queues take message_filter only (queue {self.queue_id!r}): "
                "remove jq_filter, or filter on headers with message_filter"
            )
        return self


def split_queues_shorthand(v: Any) -> Any:
    """mirrord's map form ``{QUEUE_ID: {...}}`` -> the list form ``[{"queue_id": ..., ...}]``."""
    if isinstance(v, dict):
        return [{"queue_id": k, **e} if isinstance(e, dict) else e for k, e in v.items()]
    return v


class CopyTargetConfig(Model):
    """``feature.copy_target``: ``true`` is shorthand for ``{"enabled": true}``; an object
    enables it unless it says ``"enabled": false``."""

    enabled: bool = False
    scale_down: bool = False


def copy_target_shorthand(v: Any) -> Any:
    if isinstance(v, bool):
        return {"enabled": v}
    if isinstance(v, dict) and v.get("enabled") is None:
        return {**v, "enabled": True}
    return v
