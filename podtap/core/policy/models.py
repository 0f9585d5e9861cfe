"""The specs of policies and profiles, with mirrord's field names (a mirrord spec loads as ours).

Strict where mirrord's CRD is: an unknown field, an unknown ``block`` item or ``change`` is an
error naming its path (:class:`PolicyError`, one line). A profile's ``config`` (beyond mirrord)
is a partial podtap config, checked by :func:`podtap.core.config.validate_config`.
"""

from __future__ import annotations

import ipaddress
from enum import StrEnum
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from podtap.core.config import ConfigError, validate_config
from podtap.core.field_path import field_path
from podtap.core.kube.label_selector import from_label_selector
from podtap.core.kube.selectors import Selector, SelectorError
from podtap.core.safe_regex import FilterRegexError, check_filter_regex

__all__ = [
    "Blocked",
    "Change",
    "EnvPolicy",
    "FeatureAdjustment",
    "FsPolicy",
    "IpBlock",
    "LabelSelector",
    "OutgoingRule",
    "PolicyError",
    "PolicySpec",
    "PortRule",
    "ProfileSpec",
    "parse_policy_spec",
    "parse_profile_spec",
]


class PolicyError(ValueError):
    """A policy or profile spec that cannot be used: one line naming each bad field's path."""


class Blocked(StrEnum):
    """What a policy's ``block`` may list (mirrord's names)."""

    STEAL = "steal"
    STEAL_WITHOUT_FILTER = "steal-without-filter"
    MIRROR = "mirror"
    COPY_TARGET_SCALE_DOWN = "copy-target-scale-down"


class Change(StrEnum):
    """A profile's ``featureAdjustments[].change`` (mirrord's names)."""

    INCOMING_MIRROR = "incoming-mirror"
    INCOMING_STEAL = "incoming-steal"
    INCOMING_OFF = "incoming-off"
    DNS_REMOTE = "dns-remote"
    DNS_OFF = "dns-off"
    OUTGOING_REMOTE = "outgoing-remote"
    OUTGOING_OFF = "outgoing-off"


class _Spec(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


def _regexes(values: list[str]) -> list[str]:
    for value in values:
        try:
            check_filter_regex(value)
        except FilterRegexError as e:
            raise ValueError(str(e)) from None
    return values


def _regex(value: str | None) -> str | None:
    return None if value is None else _regexes([value])[0]


class LabelExpression(_Spec):
    key: str
    operator: Literal["In", "NotIn", "Exists", "DoesNotExist"]
    values: list[str] | None = None


class LabelSelector(_Spec):
    """A ``metav1.LabelSelector`` over the targeted object's labels."""

    match_labels: dict[str, str] | None = Field(default=None, alias="matchLabels")
    match_expressions: list[LabelExpression] | None = Field(default=None, alias="matchExpressions")

    def selector(self) -> Selector:
        """The selector (checked when the spec is loaded, so it does not raise here)."""
        return from_label_selector(self.model_dump(by_alias=True, exclude_none=True))


class EnvPolicy(_Spec):
    exclude: list[str] = Field(
        default_factory=list,
        description="Names never read from the target; `*` and `?` wildcards (DATABASE_*).",
    )


class FsPolicy(_Spec):
    """Path regexes (RE2, searched in the path as feature.fs's lists are)."""

    read_only: list[str] = Field(default_factory=list, alias="readOnly")
    local: list[str] = Field(default_factory=list)
    not_found: list[str] = Field(default_factory=list, alias="notFound")

    _checked = field_validator("read_only", "local", "not_found")(_regexes)


class HttpFilterPolicy(_Spec):
    header_filter: str | None = Field(
        default=None,
        alias="headerFilter",
        description="A steal's HTTP filter must hold a header filter matching this regex.",
    )

    _checked = field_validator("header_filter")(_regex)


class IncomingPolicy(_Spec):
    http_filter: HttpFilterPolicy = Field(default_factory=HttpFilterPolicy, alias="httpFilter")


class IpBlock(_Spec):
    cidr: str
    except_: list[str] = Field(default_factory=list, alias="except")

    @field_validator("cidr")
    @classmethod
    def _cidr(cls, value: str) -> str:
        ipaddress.ip_network(value, strict=False)
        return value

    @field_validator("except_")
    @classmethod
    def _excepts(cls, values: list[str]) -> list[str]:
        return [cls._cidr(v) for v in values]


class PortRule(_Spec):
    protocol: Literal["TCP", "UDP"]
    port: int = Field(ge=0, le=65535)


class OutgoingRule(_Spec):
    """Every part that is given must match (a rule with no part matches every connection)."""

    ip_block: IpBlock | None = Field(default=None, alias="ipBlock")
    hostname: str | None = Field(default=None, description="Regex (RE2) on the whole name.")
    ports: list[PortRule] = Field(default_factory=list)

    _checked = field_validator("hostname")(_regex)


class OutgoingPolicy(_Spec):
    allow: list[OutgoingRule] = Field(default_factory=list)
    block: list[OutgoingRule] = Field(default_factory=list)


class NetworkPolicy(_Spec):
    incoming: IncomingPolicy = Field(default_factory=IncomingPolicy)
    outgoing: OutgoingPolicy = Field(default_factory=OutgoingPolicy)


class PolicySpec(_Spec):
    """The spec of PodtapPolicy / PodtapClusterPolicy (and of mirrord's two kinds)."""

    target_path: str | None = Field(default=None, alias="targetPath")
    selector: LabelSelector | None = None
    applies_to_copy_targets: bool = Field(default=False, alias="appliesToCopyTargets")
    block: list[Blocked] = Field(default_factory=list)
    env: EnvPolicy = Field(default_factory=EnvPolicy)
    fs: FsPolicy = Field(default_factory=FsPolicy)
    network: NetworkPolicy = Field(default_factory=NetworkPolicy)
    require_profile: bool = Field(default=False, alias="requireProfile")
    profile_allowlist: list[str] | None = Field(default=None, alias="profileAllowlist")

    @field_validator("selector")
    @classmethod
    def _selector(cls, value: LabelSelector | None) -> LabelSelector | None:
        if value is not None:
            try:
                value.selector()
            except SelectorError as e:
                raise ValueError(str(e)) from None
        return value


class FeatureAdjustment(_Spec):
    change: Change


class ProfileSpec(_Spec):
    """The spec of PodtapProfile / PodtapClusterProfile (and of mirrord's two kinds)."""

    feature_adjustments: list[FeatureAdjustment] = Field(
        default_factory=list, alias="featureAdjustments"
    )
    config: dict[str, Any] | None = Field(
        default=None, description="A partial podtap config, merged over the user's."
    )

    @field_validator("config")
    @classmethod
    def _config(cls, value: dict[str, Any] | None) -> dict[str, Any] | None:
        if value is not None:
            try:
                validate_config(value)
            except ConfigError as e:
                raise ValueError("; ".join(f"{i.path}: {i.message}" for i in e.issues)) from None
        return value


def _one_line(e: ValidationError) -> str:
    parts = []
    for err in e.errors(include_url=False):
        msg = str(err["msg"]).removeprefix("Value error, ")
        if err["type"] == "extra_forbidden":
            msg = "unknown field"
        sep = "." if tuple(err["loc"]) == ("config",) else ": "  # msg starts with its path
        parts.append(f"{field_path(('spec', *err['loc']))}{sep}{msg}")
    return "; ".join(parts)


def parse_policy_spec(data: Any, *, name: str) -> PolicySpec:
    """``data`` (an object's ``spec``) as a :class:`PolicySpec`; ``name`` prefixes errors."""
    try:
        return PolicySpec.model_validate(data)
    except ValidationError as e:
        raise PolicyError(f"policy {name}: {_one_line(e)}") from None


def parse_profile_spec(data: Any, *, name: str) -> ProfileSpec:
    """``data`` (an object's ``spec``) as a :class:`ProfileSpec`; ``name`` prefixes errors."""
    try:
        return ProfileSpec.model_validate(data)
    except ValidationError as e:
        raise PolicyError(f"profile {name}: {_one_line(e)}") from None
