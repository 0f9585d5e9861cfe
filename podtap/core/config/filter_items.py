"""Outgoing/DNS filter items: `[proto://][name|ip|cidr][:port]` (mirrord's syntax)."""

from __future__ import annotations

import ipaddress
import re
from typing import Annotated, Any, Literal

from pydantic import AfterValidator, BaseModel, BeforeValidator, ConfigDict


def split_list(value: Any) -> Any:
    """`"a;b"` -> `["a", "b"]` (mirrord's `;`-separated lists); anything else unchanged."""
    if isinstance(value, str):
        return [part.strip() for part in value.split(";") if part.strip()]
    return value


_ITEM_RE = re.compile(
    r"^(?:(?P<proto>[A-Za-z]+)://)?"
    r"(?P<host>\[[0-9A-Fa-f:.]+\](?:/\d+)?|[^:\[\]/\s]+(?:/\d+)?)?"
    r"(?::(?P<port>\d+))?$"
)
_NAME_RE = re.compile(r"^(?=.{1,253}$)[A-Za-z0-9_*](?:[A-Za-z0-9_\-*]*)(?:\.[A-Za-z0-9_\-*]+)*\.?$")


class FilterItem(BaseModel):
    """A parsed ``[proto://][name|ip|cidr][:port]`` filter item (None parts match anything)."""

    model_config = ConfigDict(frozen=True)

    protocol: Literal["tcp", "udp"] | None = None
    kind: Literal["any", "name", "ip", "subnet"] = "any"
    host: str | None = None
    port: int | None = None


def parse_filter_item(text: str, *, allow_protocol: bool = True) -> FilterItem:
    """Parse one outgoing/dns filter item; :class:`ValueError` says what is wrong."""
    m = _ITEM_RE.match(text.strip())
    if not text.strip() or m is None:
        raise ValueError(f"invalid filter item {text!r}: expected [proto://][name|ip|cidr][:port]")
    proto, host, port = m.group("proto"), m.group("host"), m.group("port")
    protocol: Literal["tcp", "udp"] | None = None
    if proto is not None:
        if not allow_protocol:
            raise ValueError(f"invalid filter item {text!r}: no protocol allowed here")
        p = proto.lower()
        if p == "tcp":
            protocol = "tcp"
        elif p == "udp":
            protocol = "udp"
        else:
            raise ValueError(f"invalid filter item {text!r}: protocol must be tcp or udp")
    port_no: int | None = None
    if port is not None:
        port_no = int(port)
        if not 1 <= port_no <= 65535:
            raise ValueError(f"invalid filter item {text!r}: port must be 1-65535")
    if host is None:
        if port_no is None and protocol is None:
            raise ValueError(f"invalid filter item {text!r}: empty")
        return FilterItem(protocol=protocol, port=port_no)
    bare = host.replace("[", "").replace("]", "")
    if "/" in bare:
        try:
            net = ipaddress.ip_network(bare, strict=False)
        except ValueError:
            raise ValueError(f"invalid filter item {text!r}: bad subnet {bare!r}") from None
        return FilterItem(protocol=protocol, kind="subnet", host=str(net), port=port_no)
    try:
        addr = ipaddress.ip_address(bare)
    except ValueError:
        if host.startswith("[") or not _NAME_RE.match(bare):
            raise ValueError(f"invalid filter item {text!r}: bad host name {bare!r}") from None
        return FilterItem(protocol=protocol, kind="name", host=bare.lower(), port=port_no)
    return FilterItem(protocol=protocol, kind="ip", host=str(addr), port=port_no)


def _check_item(text: str) -> str:
    parse_filter_item(text)
    return text


FilterItemList = Annotated[
    list[Annotated[str, AfterValidator(_check_item)]],
    BeforeValidator(split_list, json_schema_input_type=str | list[str]),
]
