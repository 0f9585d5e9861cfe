"""Pydantic models of the podtap / mirrord configuration.

Every model accepts mirrord's shorthand forms on input (``"env": false``, ``"fs": "read"``,
``"network": false``, ``"incoming": "steal"``, ``"target": "pod/x"``, ``"target": {"deployment":
"x"}``, ``;``-separated lists, one port for a list...) and holds, once validated, one canonical
form: ``model_dump(mode="json")`` of a validated config validates back to an equal config.
Unknown keys are accepted (``extra="allow"``) so that the loader can classify them; see
:mod:`podtap.core.config.known_keys`. The network and queue sections live in
:mod:`~podtap.core.config.network` and :mod:`~podtap.core.config.queues` and are re-exported.
"""

from __future__ import annotations

from collections.abc import Mapping
from enum import StrEnum
from typing import Annotated, Any

from pydantic import BeforeValidator, Field, field_validator, model_validator

from podtap.core.arbitration import OnConcurrentSteal
from podtap.core.config.fields import (
    Model,
    RegexList,
    SemicolonList,
    check_regexes,
    enabled_shorthand,
)
from podtap.core.config.filter_items import FilterItem, parse_filter_item
from podtap.core.config.network import (
    AddressFilter,
    DnsConfig,
    HttpFilterConfig,
    IncomingConfig,
    IncomingMode,
    InnerHttpFilter,
    NetworkConfig,
    OutgoingConfig,
    network_shorthand,
)
from podtap.core.config.profile_ref import profile_ref_problem
from podtap.core.config.queues import (
    CopyTargetConfig,
    QueueMode,
    QueueSplitConfig,
    QueueType,
    copy_target_shorthand,
    split_queues_shorthand,
)
from podtap.core.targets import KINDS, TargetError, TargetRef

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
    "QueueMode",
    "QueueSplitConfig",
    "QueueType",
    "ResolvedConfig",
    "TargetConfig",
    "parse_filter_item",
]

#: The canonical target kinds (:data:`podtap.core.targets.KINDS`).
TARGET_KINDS: tuple[str, ...] = tuple(info.kind for info in KINDS)


# --------------------------------------------------------------------------- target


class TargetConfig(Model):
    """``target``: ``"deployment/api"`` is shorthand for ``{"path": "deployment/api"}``;
    mirrord's object forms (``{"deployment": "api", "container": "app"}``, also as ``path``)
    are read into the same string, canonical once validated (``deploy/x`` -> ``deployment/x``).
    """

    path: str | None = Field(
        default=None,
        description="pod/NAME[/container/C], deployment/NAME, ..., label/K=V,..., or targetless",
    )
    namespace: str | None = None

    @field_validator("path", mode="before", json_schema_input_type=str | dict[str, Any] | None)
    @classmethod
    def _path(cls, v: Any) -> Any:
        if v is None:
            return None
        try:
            if isinstance(v, Mapping):
                return str(TargetRef.from_object(v))
            if isinstance(v, str):
                return str(TargetRef.parse(v))
        except TargetError as e:
            raise ValueError(str(e)) from None
        return v

    @property
    def ref(self) -> TargetRef | None:
        """The parsed target (None when no target is given)."""
        return None if self.path is None else TargetRef.parse(self.path)


def _target_shorthand(v: Any) -> Any:
    if v is None:
        return {}
    if isinstance(v, str):
        return {"path": v}
    if isinstance(v, Mapping) and v and not ({"path", "namespace"} & set(v)):
        return {"path": dict(v)}  # mirrord's bare object form {"deployment": ..., ...}
    return v


# --------------------------------------------------------------------------- env


class EnvConfig(Model):
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


# --------------------------------------------------------------------------- fs


class FsMode(StrEnum):
    LOCAL = "local"
    LOCAL_WITH_OVERRIDES = "localwithoverrides"
    READ = "read"
    WRITE = "write"


class FsConfig(Model):
    """``feature.fs``: ``"read"`` is shorthand for ``{"mode": "read"}``; ``true`` means
    ``read`` and ``false`` means ``local``. The path lists are regexes."""

    mode: FsMode = FsMode.READ
    read_only: RegexList = Field(default_factory=list)
    read_write: RegexList = Field(default_factory=list)
    local: RegexList = Field(default_factory=list)
    not_found: RegexList = Field(default_factory=list)

    _regexes = field_validator("read_only", "read_write", "local", "not_found")(check_regexes)


def _fs_shorthand(v: Any) -> Any:
    if isinstance(v, bool):
        return {"mode": FsMode.READ if v else FsMode.LOCAL}
    if isinstance(v, str):
        return {"mode": v}
    return v


# --------------------------------------------------------------------------- feature, top


class FeatureConfig(Model):
    env: Annotated[
        EnvConfig, BeforeValidator(enabled_shorthand, json_schema_input_type=bool | EnvConfig)
    ] = Field(default_factory=EnvConfig)
    fs: Annotated[
        FsConfig, BeforeValidator(_fs_shorthand, json_schema_input_type=FsMode | bool | FsConfig)
    ] = Field(default_factory=FsConfig)
    network: Annotated[
        NetworkConfig,
        BeforeValidator(network_shorthand, json_schema_input_type=bool | NetworkConfig),
    ] = Field(default_factory=NetworkConfig)
    split_queues: Annotated[
        list[QueueSplitConfig],
        BeforeValidator(
            split_queues_shorthand,
            json_schema_input_type=dict[str, dict[str, Any]] | list[QueueSplitConfig],
        ),
    ] = Field(default_factory=list)
    copy_target: Annotated[
        CopyTargetConfig,
        BeforeValidator(copy_target_shorthand, json_schema_input_type=bool | CopyTargetConfig),
    ] = Field(default_factory=CopyTargetConfig)


class ResolvedConfig(Model):
    """A whole podtap (or mirrord) configuration, in canonical form once validated.

    ``operator`` None means "use the operator if it is installed" (mirrord's default)."""

    target: Annotated[
        TargetConfig,
        BeforeValidator(_target_shorthand, json_schema_input_type=str | TargetConfig | None),
    ] = Field(default_factory=TargetConfig)
    kube_context: str | None = None
    operator: bool | None = None
    key: str | None = None
    profile: str | None = None  # an operator profile: NAME (cluster) or NS/NAME
    feature: FeatureConfig = Field(default_factory=FeatureConfig)

    @field_validator("profile")
    @classmethod
    def _profile(cls, v: str | None) -> str | None:
        if v is not None and (problem := profile_ref_problem(v)) is not None:
            raise ValueError(problem)
        return v
