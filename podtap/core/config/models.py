"""Pydantic models of the podtap / mirrord configuration.

Every model accepts mirrord's shorthand forms on input (``"env": false``, ``"fs": "read"``,
``"incoming": "steal"``, ``"target": "pod/x"``, ``;``-separated lists...) and holds, once
validated, one canonical form: ``model_dump(mode="json")`` of a validated config validates back
to an equal config. Unknown keys are accepted (``extra="allow"``) so that the loader can report
them as warnings; see :mod:`podtap.core.config.loader`.
"""

from __future__ import annotations

import re
from enum import StrEnum
from typing import Annotated, Any, Literal

from pydantic import (
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    ValidationInfo,
    field_validator,
    model_validator,
)

from podtap.core.arbitration import OnConcurrentSteal
from podtap.core.config.filter_items import (
    FilterItem,
    FilterItemList,
    parse_filter_item,
    split_list,
)
from podtap.core.safe_regex import FilterRegexError, check_filter_regex

__all__ = [
    "TARGET_KINDS",
    "AddressFilter",
    "CopyTargetConfig",
    "DnsConfig",
    "EnvConfig",
    "FeatureConfig",
    "FilterItem",
    "FsConfig",
    "FsMode",
    "HttpFilterConfig",
    "IncomingConfig",
    "IncomingMode",
    "InnerHttpFilter",
    "NetworkConfig",
    "OnConcurrentSteal",
    "OutgoingConfig",
    "QueueSplitConfig",
    "QueueType",
    "ResolvedConfig",
    "TargetConfig",
    "parse_filter_item",
]

TARGET_KINDS = (
    "pod",
    "deployment",
    "statefulset",
    "replicaset",
    "job",
    "cronjob",
    "service",
    "rollout",
)
_TARGET_RE = re.compile(
    r"^(?:targetless|(?:" + "|".join(TARGET_KINDS) + r")/[^/\s]+(?:/container/[^/\s]+)?)$"
)


class _Model(BaseModel):
    """Base of every config section: unknown keys are kept aside for warnings."""

    model_config = ConfigDict(extra="allow", validate_default=True)


# --------------------------------------------------------------------------- helpers


_split_list = split_list  # mirrord's ``VecOrSingle`` with ``;`` separators


def _single_to_list(value: Any) -> Any:
    """A single string stands for a one-item list (regexes: never split on ``;``)."""
    if isinstance(value, str):
        return [value]
    return value


def _check_regex(value: str) -> str:
    try:
        re.compile(value)
    except re.error as e:
        raise ValueError(f"invalid regular expression {value!r}: {e}") from None
    return value


def _check_http_regex(value: str | None, info: ValidationInfo) -> str | None:
    """HTTP filters run in the agent on RE2 (linear time): refuse here, at the first
    look, what the agent would refuse (lookaround, backreferences, ...)."""
    if value is not None:
        try:
            check_filter_regex(value, ignore_case=info.field_name in ("header", "header_filter"))
        except FilterRegexError as e:
            if e.python_error is not None:  # worded as for every other regex of the config
                message = f"invalid regular expression {value!r}: {e.python_error}"
                raise ValueError(message) from None
            raise ValueError(str(e)) from None
    return value


def _check_regexes(values: list[str] | None) -> list[str] | None:
    if values is not None:
        for v in values:
            _check_regex(v)
    return values


SemicolonList = Annotated[
    list[str], BeforeValidator(_split_list, json_schema_input_type=str | list[str])
]
RegexList = Annotated[
    list[str], BeforeValidator(_single_to_list, json_schema_input_type=str | list[str])
]
Port = Annotated[int, Field(ge=1, le=65535)]


# --------------------------------------------------------------------------- target


class TargetConfig(_Model):
    """``target``: ``"deployment/api"`` is shorthand for ``{"path": "deployment/api"}``."""

    path: str | None = Field(
        default=None,
        description="pod/NAME[/container/C], deployment/NAME, ..., or targetless",
    )
    namespace: str | None = None

    @field_validator("path")
    @classmethod
    def _path(cls, v: str | None) -> str | None:
        if v is None:
            return None
        if not _TARGET_RE.match(v):
            raise ValueError(
                f"invalid target {v!r}: expected KIND/NAME[/container/CONTAINER] with KIND one "
                f"of {', '.join(TARGET_KINDS)}, or 'targetless'"
            )
        return v


def _target_shorthand(v: Any) -> Any:
    if v is None:
        return {}
    if isinstance(v, str):
        return {"path": v}
    return v


# --------------------------------------------------------------------------- env


class EnvConfig(_Model):
    """``feature.env``: ``true``/``false`` is shorthand for ``{"enabled": ...}``.

    ``include``/``exclude`` are lists of names with ``*``/``?`` wildcards (or one ``;``-separated
    string); only one of them may be given. Remote values win over local ones, ``override``
    wins over both, ``unset`` names are removed.
    """

    enabled: bool = True
    include: SemicolonList | None = None
    exclude: SemicolonList = Field(default_factory=list)
    override: dict[str, str] = Field(default_factory=dict)
    unset: SemicolonList = Field(default_factory=list)
    env_file: str | None = None

    @model_validator(mode="after")
    def _exclusive(self) -> EnvConfig:
        if self.include is not None and self.exclude:
            raise ValueError("include and exclude cannot both be set")
        return self


def _enabled_shorthand(v: Any) -> Any:
    if isinstance(v, bool):
        return {"enabled": v}
    return v


# --------------------------------------------------------------------------- fs


class FsMode(StrEnum):
    LOCAL = "local"
    LOCAL_WITH_OVERRIDES = "localwithoverrides"
    READ = "read"
    WRITE = "write"


class FsConfig(_Model):
    """``feature.fs``: ``"read"`` is shorthand for ``{"mode": "read"}``; ``true`` means
    ``read`` and ``false`` means ``local``. The path lists are regexes."""

    mode: FsMode = FsMode.READ
    read_only: RegexList = Field(default_factory=list)
    read_write: RegexList = Field(default_factory=list)
    local: RegexList = Field(default_factory=list)
    not_found: RegexList = Field(default_factory=list)

    _regexes = field_validator("read_only", "read_write", "local", "not_found")(_check_regexes)


def _fs_shorthand(v: Any) -> Any:
    if isinstance(v, bool):
        return {"mode": FsMode.READ if v else FsMode.LOCAL}
    if isinstance(v, str):
        return {"mode": v}
    return v


# --------------------------------------------------------------------------- incoming


class IncomingMode(StrEnum):
    MIRROR = "mirror"
    STEAL = "steal"
    OFF = "off"


class InnerHttpFilter(_Model):
    """One item of ``all_of``/``any_of``: exactly one of ``header``, ``path``, ``method``."""

    header: str | None = None
    path: str | None = None
    method: str | None = None

    _regexes = field_validator("header", "path")(_check_http_regex)

    @field_validator("method")
    @classmethod
    def _method(cls, v: str | None) -> str | None:
        return None if v is None else v.upper()

    @model_validator(mode="after")
    def _one(self) -> InnerHttpFilter:
        given = [k for k in ("header", "path", "method") if getattr(self, k) is not None]
        if len(given) != 1:
            raise ValueError("each filter must have exactly one of header, path, method")
        return self


class HttpFilterConfig(_Model):
    """``feature.network.incoming.http_filter``: at most one of ``header_filter`` (case-
    insensitive regex on ``Name: value``), ``path_filter``, ``method_filter``, ``all_of``,
    ``any_of``. ``ports`` None means every port."""

    header_filter: str | None = None
    path_filter: str | None = None
    method_filter: str | None = None
    all_of: list[InnerHttpFilter] | None = None
    any_of: list[InnerHttpFilter] | None = None
    ports: list[Port] | None = None

    _regexes = field_validator("header_filter", "path_filter")(_check_http_regex)

    @field_validator("method_filter")
    @classmethod
    def _method(cls, v: str | None) -> str | None:
        return None if v is None else v.upper()

    @model_validator(mode="after")
    def _one(self) -> HttpFilterConfig:
        given = [
            k
            for k in ("header_filter", "path_filter", "method_filter", "all_of", "any_of")
            if getattr(self, k) is not None
        ]
        if len(given) > 1:
            raise ValueError(f"only one of {', '.join(given)} may be set")
        for k in ("all_of", "any_of"):
            if getattr(self, k) == []:
                raise ValueError(f"{k} must not be empty")
        return self

    @property
    def is_set(self) -> bool:
        return any(
            getattr(self, k) is not None
            for k in ("header_filter", "path_filter", "method_filter", "all_of", "any_of")
        )


class IncomingConfig(_Model):
    """``feature.network.incoming``: ``"steal"`` is shorthand for ``{"mode": "steal"}``.

    ``port_mapping`` is a list of ``[local, remote]`` pairs; ``ports`` None means every port
    the application listens on."""

    mode: IncomingMode = IncomingMode.MIRROR
    port_mapping: list[tuple[Port, Port]] = Field(default_factory=list)
    ports: list[Port] | None = None
    ignore_ports: list[Port] = Field(default_factory=list)
    ignore_localhost: bool = False
    http_filter: HttpFilterConfig = Field(default_factory=HttpFilterConfig)
    on_concurrent_steal: OnConcurrentSteal = OnConcurrentSteal.ABORT


def _incoming_shorthand(v: Any) -> Any:
    if isinstance(v, str):
        return {"mode": v}
    if isinstance(v, bool):
        return {"mode": IncomingMode.MIRROR if v else IncomingMode.OFF}
    return v


# --------------------------------------------------------------------------- outgoing, dns


class AddressFilter(_Model):
    """``filter``: exactly one of ``remote`` (only these go through the pod) or ``local``
    (these stay on this machine), each a list of ``[proto://][name|ip|cidr][:port]``."""

    remote: FilterItemList | None = None
    local: FilterItemList | None = None

    @model_validator(mode="after")
    def _one(self) -> AddressFilter:
        if (self.remote is None) == (self.local is None):
            raise ValueError("exactly one of remote or local must be set")
        return self

    @property
    def kind(self) -> Literal["remote", "local"]:
        return "remote" if self.remote is not None else "local"

    @property
    def items(self) -> list[FilterItem]:
        return [parse_filter_item(i) for i in (self.remote or self.local or [])]


class OutgoingConfig(_Model):
    """``feature.network.outgoing``: ``true``/``false`` sets both ``tcp`` and ``udp``."""

    tcp: bool = True
    udp: bool = True
    ignore_localhost: bool = False
    filter: AddressFilter | None = None


def _outgoing_shorthand(v: Any) -> Any:
    if isinstance(v, bool):
        return {"tcp": v, "udp": v}
    return v


class DnsConfig(_Model):
    """``feature.network.dns``: ``true``/``false`` is shorthand for ``{"enabled": ...}``."""

    enabled: bool = True
    filter: AddressFilter | None = None


class NetworkConfig(_Model):
    incoming: Annotated[
        IncomingConfig,
        BeforeValidator(
            _incoming_shorthand, json_schema_input_type=IncomingMode | bool | IncomingConfig
        ),
    ] = Field(default_factory=IncomingConfig)
    outgoing: Annotated[
        OutgoingConfig,
        BeforeValidator(_outgoing_shorthand, json_schema_input_type=bool | OutgoingConfig),
    ] = Field(default_factory=OutgoingConfig)
    dns: Annotated[
        DnsConfig, BeforeValidator(_enabled_shorthand, json_schema_input_type=bool | DnsConfig)
    ] = Field(default_factory=DnsConfig)


# --------------------------------------------------------------------------- queues, copy


class QueueType(StrEnum):
    SQS = "SQS"
    RABBITMQ = "RabbitMQ"
    KAFKA = "Kafka"

    @classmethod
    def _missing_(cls, value: object) -> QueueType | None:
        if isinstance(value, str):
            for member in cls:
                if member.value.lower() == value.lower():
                    return member
        return None


class QueueSplitConfig(_Model):
    """One entry of ``feature.split_queues`` (keyed by queue id): messages whose attributes
    (SQS) or headers (Kafka, RabbitMQ) match every regex of ``message_filter`` go to this
    session."""

    queue_type: QueueType = QueueType.SQS
    message_filter: dict[str, str] = Field(default_factory=dict)

    @field_validator("message_filter")
    @classmethod
    def _regexes(cls, v: dict[str, str]) -> dict[str, str]:
        for regex in v.values():
            _check_regex(regex)
        return v


class CopyTargetConfig(_Model):
    """``feature.copy_target``: ``true`` is shorthand for ``{"enabled": true}``; an object
    enables it unless it says ``"enabled": false``."""

    enabled: bool = False
    scale_down: bool = False


def _copy_target_shorthand(v: Any) -> Any:
    if isinstance(v, bool):
        return {"enabled": v}
    if isinstance(v, dict) and "enabled" not in v:
        return {**v, "enabled": True}
    return v


class FeatureConfig(_Model):
    env: Annotated[
        EnvConfig, BeforeValidator(_enabled_shorthand, json_schema_input_type=bool | EnvConfig)
    ] = Field(default_factory=EnvConfig)
    fs: Annotated[
        FsConfig, BeforeValidator(_fs_shorthand, json_schema_input_type=FsMode | bool | FsConfig)
    ] = Field(default_factory=FsConfig)
    network: NetworkConfig = Field(default_factory=NetworkConfig)
    split_queues: dict[str, QueueSplitConfig] = Field(default_factory=dict)
    copy_target: Annotated[
        CopyTargetConfig,
        BeforeValidator(_copy_target_shorthand, json_schema_input_type=bool | CopyTargetConfig),
    ] = Field(default_factory=CopyTargetConfig)


# --------------------------------------------------------------------------- top level


class ResolvedConfig(_Model):
    """A whole podtap (or mirrord) configuration, in canonical form once validated.

    ``operator`` None means "use the operator if it is installed" (mirrord's default)."""

    target: Annotated[
        TargetConfig,
        BeforeValidator(_target_shorthand, json_schema_input_type=str | TargetConfig | None),
    ] = Field(default_factory=TargetConfig)
    kube_context: str | None = None
    operator: bool | None = None
    key: str | None = None
    profile: str | None = None
    feature: FeatureConfig = Field(default_factory=FeatureConfig)
