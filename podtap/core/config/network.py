"""``feature.network``: incoming (mirror/steal and HTTP filters), outgoing, DNS.

Shapes follow mirrord's schema: ``network``, ``incoming``, ``outgoing``, ``dns`` and
``http_filter`` each take ``true``/``false`` or an object; ``incoming`` also takes its mode as a
string; port lists take one port or a list. A filter form the agent cannot apply (``body``,
jq) is refused here, by name: ignoring it would steal more than the filter says.
"""

from __future__ import annotations

from collections.abc import Callable
from enum import StrEnum
from typing import Annotated, Any, Literal

from pydantic import BeforeValidator, Field, field_validator, model_validator

from podtap.core.arbitration import OnConcurrentSteal
from podtap.core.config.fields import Model, Port, PortList, check_http_regex, enabled_shorthand
from podtap.core.config.filter_items import FilterItem, FilterItemList, parse_filter_item

__all__ = [
    "AddressFilter",
    "DnsConfig",
    "HttpFilterConfig",
    "IncomingConfig",
    "IncomingMode",
    "InnerHttpFilter",
    "NetworkConfig",
    "OutgoingConfig",
    "network_shorthand",
]

_FILTER_KEYS = ("header_filter", "path_filter", "method_filter", "all_of", "any_of")
_USE_INSTEAD = "use header_filter, path_filter, method_filter, all_of or any_of"


class IncomingMode(StrEnum):
    MIRROR = "mirror"
    STEAL = "steal"
    OFF = "off"


def _method(v: str | None) -> str | None:
    if v == "":
        raise ValueError("must not be empty: give an HTTP method such as POST")
    return None if v is None else v.upper()


_WIDER = "ignoring it would steal more than the filter says"
_ITEMS = "use header, path or method items"
_BODY = f"body filters cannot be applied by podtap's agent yet ({_WIDER}): {_ITEMS}"
_INNER_REFUSED = {
    "body": _BODY,
    "matches": _BODY,
    "query": f"jq (query) filters cannot be applied by podtap's agent yet ({_WIDER}): {_ITEMS}",
}
_TOP_REFUSED = {
    key: f"{key}: {what} filters cannot be applied by podtap's agent yet ({_WIDER}): {_USE_INSTEAD}"
    for key, what in (("body_filter", "body"), ("header_filter_jq", "jq header"))
}


def _refuser(refused: dict[str, str]) -> Callable[[type, Any], Any]:
    """A before-validator refusing the filter keys podtap's agent cannot apply, by name."""

    def refuse(cls: type, data: Any) -> Any:
        if isinstance(data, dict):
            for key, message in refused.items():
                if data.get(key) is not None:
                    raise ValueError(message)
        return data

    return refuse


class InnerHttpFilter(Model):
    """One item of ``all_of``/``any_of``: exactly one of ``header``, ``path``, ``method``."""

    header: str | None = None
    path: str | None = None
    method: str | None = None

    _regexes = field_validator("header", "path")(check_http_regex)
    _methods = field_validator("method")(_method)

    _unapplicable = model_validator(mode="before")(_refuser(_INNER_REFUSED))

    @model_validator(mode="after")
    def _one(self) -> InnerHttpFilter:
        given = [k for k in ("header", "path", "method") if getattr(self, k) is not None]
        if len(given) != 1:
            raise ValueError("each filter must have exactly one of header, path, method")
        return self


class HttpFilterConfig(Model):
    """``feature.network.incoming.http_filter``: at most one of ``header_filter`` (case-
    insensitive regex on ``Name: value``), ``path_filter``, ``method_filter``, ``all_of``,
    ``any_of``. ``ports`` None means every port. ``true``/``false`` mean no filter (mirrord)."""

    header_filter: str | None = None
    path_filter: str | None = None
    method_filter: str | None = None
    all_of: list[InnerHttpFilter] | None = None
    any_of: list[InnerHttpFilter] | None = None
    ports: PortList | None = None

    _regexes = field_validator("header_filter", "path_filter")(check_http_regex)
    _methods = field_validator("method_filter")(_method)

    _unapplicable = model_validator(mode="before")(_refuser(_TOP_REFUSED))

    @model_validator(mode="after")
    def _one(self) -> HttpFilterConfig:
        given = [k for k in _FILTER_KEYS if getattr(self, k) is not None]
        if len(given) > 1:
            raise ValueError(f"only one of {', '.join(given)} may be set")
        for k in ("all_of", "any_of"):
            if getattr(self, k) == []:
                raise ValueError(f"{k} must not be empty")
        return self

    @property
    def is_set(self) -> bool:
        return any(getattr(self, k) is not None for k in _FILTER_KEYS)


def _http_filter_shorthand(v: Any) -> Any:
    """mirrord's ``ToggleableConfig``: ``true`` is the default (no filter) and ``false`` the
    disabled config (no filter either)."""
    if isinstance(v, bool):
        return {}
    return v


class IncomingConfig(Model):
    """``feature.network.incoming``: ``"steal"`` is shorthand for ``{"mode": "steal"}``.

    ``port_mapping`` is a list of ``[local, remote]`` pairs; ``ports`` None means every port
    the application listens on."""

    mode: IncomingMode = IncomingMode.MIRROR
    port_mapping: list[tuple[Port, Port]] = Field(default_factory=list)
    ports: PortList | None = None
    ignore_ports: PortList = Field(default_factory=list)
    ignore_localhost: bool = False
    http_filter: Annotated[
        HttpFilterConfig,
        BeforeValidator(_http_filter_shorthand, json_schema_input_type=bool | HttpFilterConfig),
    ] = Field(default_factory=HttpFilterConfig)
    on_concurrent_steal: OnConcurrentSteal = OnConcurrentSteal.ABORT


def _incoming_shorthand(v: Any) -> Any:
    if isinstance(v, str):
        return {"mode": v}
    if isinstance(v, bool):
        return {"mode": IncomingMode.MIRROR if v else IncomingMode.OFF}
    return v


class AddressFilter(Model):
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


class OutgoingConfig(Model):
    """``feature.network.outgoing``: ``true``/``false`` sets both ``tcp`` and ``udp``."""

    tcp: bool = True
    udp: bool = True
    ignore_localhost: bool = False
    filter: AddressFilter | None = None


def _outgoing_shorthand(v: Any) -> Any:
    if isinstance(v, bool):
        return {"tcp": v, "udp": v}
    return v


class DnsConfig(Model):
    """``feature.network.dns``: ``true``/``false`` is shorthand for ``{"enabled": ...}``."""

    enabled: bool = True
    filter: AddressFilter | None = None


class NetworkConfig(Model):
    """``feature.network``: ``true`` is every default, ``false`` turns incoming, outgoing and
    remote DNS off (mirrord's disabled network)."""

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
        DnsConfig, BeforeValidator(enabled_shorthand, json_schema_input_type=bool | DnsConfig)
    ] = Field(default_factory=DnsConfig)


def network_shorthand(v: Any) -> Any:
    if v is True:
        return {}
    if v is False:
        return {"incoming": False, "outgoing": False, "dns": False}
    return v
