"""A workload's queue-split config: the spec of mirrord's ``MirrordSplitConfig``.

The operator reads it from podtap's own resource (or mirrord's ``queues.mirrord.metalbear.co``
kind, same fields): which workload (``targetRef``), which of its queues may be split and how
its pods name them (``queues[].appConfig``), how long a restart of the patched pods may take
(``restart``), how temporary queues are named (``tmpNameTemplate``) and how long draining
and an idle split may last (``drainTimeout``, ``ttl``, in seconds). Unknown fields are
refused, as a CRD's structural schema would prune them silently and a typo would turn a split
into no split. :func:`parse_split_config` raises :class:`SplitConfigError`, one line naming
the field.
"""

from __future__ import annotations

from enum import StrEnum
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from podtap.core.field_path import field_path

__all__ = [
    "DEFAULT_TMP_NAME_TEMPLATE",
    "AppConfig",
    "QueueKind",
    "QueueSpec",
    "RestartSpec",
    "SplitConfig",
    "SplitConfigError",
    "TargetRef",
    "parse_split_config",
]

DEFAULT_TMP_NAME_TEMPLATE = "podtap-tmp-{{ID}}-{{ORIGINAL}}"
TARGET_KINDS = ("Deployment", "StatefulSet", "Rollout")


class SplitConfigError(ValueError):
    """A split config that cannot be used; the message is one line naming the field."""


class QueueKind(StrEnum):
    SQS = "sqs"
    RMQ = "rmq"
    KAFKA = "kafka"


class _Spec(BaseModel):
    model_config = ConfigDict(extra="forbid", populate_by_name=True, frozen=True)


class TargetRef(_Spec):
    """The workload whose pods consume the queues."""

    api_version: str = Field(default="apps/v1", alias="apiVersion")
    kind: str
    name: str = Field(min_length=1)

    @model_validator(mode="after")
    def _kind(self) -> TargetRef:
        if self.kind not in TARGET_KINDS:
            raise ValueError(f"must be one of {', '.join(TARGET_KINDS)}, not {self.kind!r}")
        return self


class AppConfig(_Spec):
    """Which env vars of which containers hold the queue (exchange, topic, group id).

    ``env``: one var by name; ``envLike``: every var whose name matches this regex;
    ``fallback``: the original queue's name when the pod has none of them (the var ``env``
    is then added); ``valueSelector``: a jq path to the name inside a JSON value;
    ``valuePattern``: a regex whose group ``name`` (or first group) is the name inside the
    value; ``containers``: only these containers (default: every one holding the var)."""

    env: str | None = None
    env_like: str | None = Field(default=None, alias="envLike")
    fallback: str | None = None
    value_selector: str | None = Field(default=None, alias="valueSelector")
    value_pattern: str | None = Field(default=None, alias="valuePattern")
    containers: tuple[str, ...] = ()

    @model_validator(mode="after")
    def _one_source(self) -> AppConfig:
        if (self.env is None) == (self.env_like is None):
            raise ValueError("give exactly one of env or envLike")
        if self.value_selector is not None and self.value_pattern is not None:
            raise ValueError("give at most one of valueSelector or valuePattern")
        if self.fallback is not None and self.env is None:
            raise ValueError("fallback needs env (the var to add when the pod has none)")
        return self


class QueueSpec(_Spec):
    """One splittable queue: ``id`` is what sessions' ``split_queues`` entries name."""

    id: str = Field(min_length=1)
    kind: QueueKind
    client_config: dict[str, Any] = Field(default_factory=dict, alias="clientConfig")
    queue_config: dict[str, Any] = Field(default_factory=dict, alias="queueConfig")
    app_config: AppConfig = Field(alias="appConfig")


class RestartSpec(_Spec):
    """How long the patched (or restored) pods may take to roll out, and whether to wait."""

    timeout: float = Field(default=180.0, gt=0)
    wait_for_pods: bool = Field(default=True, alias="waitForPods")


class SplitConfig(_Spec):
    target_ref: TargetRef = Field(alias="targetRef")
    queues: tuple[QueueSpec, ...] = Field(min_length=1)
    restart: RestartSpec = Field(default_factory=RestartSpec)
    tmp_name_template: str = Field(default=DEFAULT_TMP_NAME_TEMPLATE, alias="tmpNameTemplate")
    drain_timeout: float = Field(default=300.0, gt=0, alias="drainTimeout")
    ttl: float = Field(default=0.0, ge=0)

    @model_validator(mode="after")
    def _unique_ids(self) -> SplitConfig:
        seen: set[tuple[str, QueueKind]] = set()
        for queue in self.queues:
            if (queue.id, queue.kind) in seen:
                raise ValueError(f"queue id {queue.id!r} ({queue.kind}) appears twice")
            seen.add((queue.id, queue.kind))
        return self

    def queue(self, queue_id: str) -> QueueSpec | None:
        return next((q for q in self.queues if q.id == queue_id), None)


def parse_split_config(spec: object) -> SplitConfig:
    """The split config of a resource's ``spec``; :class:`SplitConfigError` names the field."""
    try:
        return SplitConfig.model_validate(spec)
    except ValidationError as exc:
        error = exc.errors()[0]
        loc = tuple(p for p in error["loc"] if not str(p).startswith("function-"))
        message = str(error["msg"]).removeprefix("Value error, ")
        if error["type"] == "extra_forbidden":
            message = "not a known field (check its spelling)"
        raise SplitConfigError(f"{field_path(('spec', *loc))}: {message}") from None
