"""A workload's queue-split config: the spec of mirrord's ``MirrordSplitConfig``.

The operator reads it from podtap's own resource (or mirrord's ``queues.mirrord.metalbear.co``
kind, same fields): which workload (``targetRef``), which of its queues may be split and how
its pods name them (``queues[].appConfig``), how long a restart of the patched pods may take
(``restart``), how temporary queues are named (``tmpNameTemplate``) and how long draining
and an idle split may last (``drainTimeout``, ``ttl``, in seconds). Unknown fields are
refused, as a CRD's structural schema would prune them silently and a typo would turn a split
into no split. :func:`parse_split_config` raises :class:`SplitConfigError`, one line naming
the field.

A queue's ``clientConfig`` is either the broker's properties inline, or the name of a
property list resource in the operator's namespace (``PodtapBrokerConfig``, or mirrord's
``MirrordKafkaClientConfig`` for Kafka; :mod:`podtap.core.queues.client_config`): then
``client_config`` is empty until the operator resolves it and ``client_config_name`` holds
the name.
"""

from __future__ import annotations

from enum import StrEnum
from typing import Annotated, Any

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    ValidationError,
    WithJsonSchema,
    model_validator,
)
from pydantic.json_schema import SkipJsonSchema

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
    "spec_error",
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


#: A structural schema cannot say "an object or a string": the node keeps any value, and
#: the model checks it.
_CLIENT_CONFIG_SCHEMA = {
    "description": "The broker's properties, or the name of a PodtapBrokerConfig (or, for "
    "Kafka, a MirrordKafkaClientConfig) in the operator's namespace.",
    "x-kubernetes-preserve-unknown-fields": True,
}


class QueueSpec(_Spec):
    """One splittable queue: ``id`` is what sessions' ``split_queues`` entries name."""

    id: str = Field(min_length=1)
    kind: QueueKind
    client_config: Annotated[dict[str, Any], WithJsonSchema(_CLIENT_CONFIG_SCHEMA)] = Field(
        default_factory=dict, alias="clientConfig"
    )
    client_config_name: SkipJsonSchema[str | None] = Field(default=None, exclude=True)
    queue_config: dict[str, Any] = Field(default_factory=dict, alias="queueConfig")
    app_config: AppConfig = Field(alias="appConfig")

    @model_validator(mode="before")
    @classmethod
    def _named_client_config(cls, data: Any) -> Any:
        """``clientConfig: NAME`` names a property list resource (resolved by the operator)."""
        if not isinstance(data, dict):
            return data
        if "client_config_name" in data:
            raise ValueError("client_config_name: not a known field (check its spelling)")
        value = data.get("clientConfig", data.get("client_config"))
        if isinstance(value, str):
            if not value.strip():
                raise ValueError("clientConfig: give the broker's properties or a resource name")
            rest = {k: v for k, v in data.items() if k not in ("clientConfig", "client_config")}
            return {**rest, "clientConfig": {}, "client_config_name": value.strip()}
        if value is not None and not isinstance(value, dict):
            raise ValueError(
                "clientConfig: must be the broker's properties (a mapping) or the name of a "
                "PodtapBrokerConfig"
            )
        return data


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


def spec_error(exc: ValidationError) -> str:
    """A resource's ``spec`` refused by its model, in one line: the field, then the fault."""
    error = exc.errors()[0]
    loc = tuple(p for p in error["loc"] if not str(p).startswith("function-"))
    message = str(error["msg"]).removeprefix("Value error, ")
    if error["type"] == "extra_forbidden":
        message = "not a known field (check its spelling)"
    return f"{field_path(('spec', *loc))}: {message}"


def parse_split_config(spec: object) -> SplitConfig:
    """The split config of a resource's ``spec``; :class:`SplitConfigError` names the field."""
    try:
        return SplitConfig.model_validate(spec)
    except ValidationError as exc:
        raise SplitConfigError(spec_error(exc)) from None
