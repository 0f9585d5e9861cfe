"""Where the app's connections and name lookups go: through the pod or from this machine.

Pure decisions for `feature.network.outgoing` and `feature.network.dns` (mirrord's
semantics): with a `remote` filter only matching traffic goes through the pod, with a
`local` filter matching traffic stays on the developer's machine. A name item matches the
addresses that name resolved to through podtap's DNS (:class:`ResolvedNames`)."""

from __future__ import annotations

import ipaddress
from collections import OrderedDict
from collections.abc import Iterable
from dataclasses import dataclass
from enum import StrEnum
from fnmatch import fnmatchcase
from typing import Literal

from podtap.core.config.filter_items import FilterItem
from podtap.core.config.models import AddressFilter, NetworkConfig

Protocol = Literal["tcp", "udp"]
IpAddress = ipaddress.IPv4Address | ipaddress.IPv6Address
LOOPBACK_NAMES = frozenset({"localhost", "localhost.localdomain", "ip6-localhost"})


class Route(StrEnum):
    LOCAL = "local"  # made by podtap on the developer's machine
    REMOTE = "remote"  # made by the agent from the pod


class Lookup(StrEnum):
    LOCAL = "local"  # this machine's resolver
    REMOTE = "remote"  # the pod's resolver, through the agent
    NOT_FOUND = "not-found"  # a cluster search domain appended to a name resolved locally


def _host_matches(item: FilterItem, address: IpAddress, names: frozenset[str]) -> bool:
    if item.kind == "any" or item.host is None:
        return True
    if item.kind == "ip":
        return address == ipaddress.ip_address(item.host)
    if item.kind == "subnet":
        net = ipaddress.ip_network(item.host)
        return net.version == address.version and address in net
    if item.host in LOOPBACK_NAMES and address.is_loopback:
        return True
    return any(fnmatchcase(name, item.host) for name in names)


def item_matches(
    item: FilterItem, *, protocol: Protocol, address: str, port: int, names: Iterable[str] = ()
) -> bool:
    """Whether one `[proto://][name|ip|cidr][:port]` item matches a connection."""
    if item.protocol is not None and item.protocol != protocol:
        return False
    if item.port is not None and item.port != port:
        return False
    return _host_matches(item, ipaddress.ip_address(address), frozenset(names))


def _is_loopback_item(item: FilterItem) -> bool:
    if item.kind == "ip" and item.host is not None:
        return ipaddress.ip_address(item.host).is_loopback
    if item.kind == "subnet" and item.host is not None:
        return ipaddress.ip_network(item.host).is_loopback
    return item.kind == "name" and item.host in LOOPBACK_NAMES


@dataclass(frozen=True, kw_only=True)
class OutgoingRules:
    """`feature.network.outgoing`: a disabled protocol, or a connection the filter keeps
    local, is made from this machine; everything else from the pod."""

    tcp: bool = True
    udp: bool = True
    ignore_localhost: bool = False
    mode: Literal["remote", "local"] | None = None
    items: tuple[FilterItem, ...] = ()

    def route(
        self, *, protocol: Protocol, address: str, port: int, names: Iterable[str] = ()
    ) -> Route:
        if not (self.tcp if protocol == "tcp" else self.udp):
            return Route.LOCAL
        if self.mode is None:
            return Route.REMOTE
        names = frozenset(names)
        hit = any(
            item_matches(i, protocol=protocol, address=address, port=port, names=names)
            for i in self.items
        )
        if self.mode == "remote":
            return Route.REMOTE if hit else Route.LOCAL
        return Route.LOCAL if hit else Route.REMOTE

    def loopback_tcp_ports(self) -> frozenset[int]:
        """Loopback TCP ports the jail hands to podtap instead of its own loopback: those
        the filter names explicitly (`localhost:5432`, `127.0.0.1:6379`), unless
        `ignore_localhost`. Other loopback traffic stays inside the jail (the app's own)."""
        if self.ignore_localhost or self.mode is None:
            return frozenset()
        return frozenset(
            i.port
            for i in self.items
            if i.port is not None and i.protocol in (None, "tcp") and _is_loopback_item(i)
        )


def search_stems(name: str, search: Iterable[str]) -> list[str]:
    """`catalog.default.svc.cluster.local` -> `["catalog", "catalog.default", ...]`: the
    names the app may have typed before its resolver appended a search domain."""
    name = name.lower().rstrip(".")
    return [
        name[: -len(domain) - 1]
        for domain in search
        if domain and name.endswith("." + domain.lower()) and len(name) > len(domain) + 1
    ]


@dataclass(frozen=True, kw_only=True)
class DnsRules:
    """`feature.network.dns`: which resolver answers a name. DNS queries carry no port,
    so items with a port (and address items) never match a name."""

    enabled: bool = True
    mode: Literal["remote", "local"] | None = None
    items: tuple[FilterItem, ...] = ()
    search: tuple[str, ...] = ()

    def _matches(self, name: str) -> bool:
        return any(
            i.port is None
            and (i.kind == "any" or (i.kind == "name" and fnmatchcase(name, i.host or "")))
            for i in self.items
        )

    def lookup(self, name: str) -> Lookup:
        name = name.lower().rstrip(".")
        if not self.enabled:
            return Lookup.LOCAL
        if self.mode is None:
            return Lookup.REMOTE
        if self._matches(name):
            return Lookup.LOCAL if self.mode == "local" else Lookup.REMOTE
        stems = search_stems(name, self.search)
        if any(self._matches(s) for s in stems):
            # the bare name is local: let the app's resolver move on to it
            return Lookup.NOT_FOUND if self.mode == "local" else Lookup.REMOTE
        if self.mode == "local":
            return Lookup.REMOTE
        return Lookup.NOT_FOUND if stems else Lookup.LOCAL


@dataclass(frozen=True, kw_only=True)
class NetworkRules:
    outgoing: OutgoingRules = OutgoingRules()
    dns: DnsRules = DnsRules()


Mode = Literal["remote", "local"]


def _filter(f: AddressFilter | None) -> tuple[Mode | None, tuple[FilterItem, ...]]:
    return (None, ()) if f is None else (f.kind, tuple(f.items))


def network_rules(network: NetworkConfig, *, search: Iterable[str] = ()) -> NetworkRules:
    """The rules of a validated `feature.network` (search: the jail's search domains)."""
    out, dns = network.outgoing, network.dns
    out_mode, out_items = _filter(out.filter)
    dns_mode, dns_items = _filter(dns.filter)
    return NetworkRules(
        outgoing=OutgoingRules(
            tcp=out.tcp,
            udp=out.udp,
            ignore_localhost=out.ignore_localhost,
            mode=out_mode,
            items=out_items,
        ),
        dns=DnsRules(enabled=dns.enabled, mode=dns_mode, items=dns_items, search=tuple(search)),
    )


class ResolvedNames:
    """Address -> the names it was an answer for (full and as typed before a search
    domain), so name items match the addresses the app connects to. Bounded, LRU."""

    def __init__(self, *, search: Iterable[str] = (), limit: int = 4096) -> None:
        self.search = tuple(search)
        self.limit = limit
        self._names: OrderedDict[IpAddress, set[str]] = OrderedDict()

    def record(self, name: str, addresses: Iterable[str]) -> None:
        name = name.lower().rstrip(".")
        names = {name, *search_stems(name, self.search)}
        for text in addresses:
            address = ipaddress.ip_address(text)
            self._names.setdefault(address, set()).update(names)
            self._names.move_to_end(address)
        while len(self._names) > self.limit:
            self._names.popitem(last=False)

    def names_of(self, address: str) -> frozenset[str]:
        return frozenset(self._names.get(ipaddress.ip_address(address), ()))


class DnsCache:
    """The stub's answers for `ttl` seconds (also "not found": ndots:5 makes every short
    name cost several lookups). The clock is the caller's."""

    def __init__(self, *, ttl: float = 5.0, limit: int = 1024) -> None:
        self.ttl = ttl
        self.limit = limit
        self._entries: OrderedDict[tuple[str, str], tuple[float, tuple[str, ...]]] = OrderedDict()

    def get(self, name: str, kind: str, *, now: float) -> tuple[str, ...] | None:
        """The cached addresses (empty: cached as not found), None when not cached."""
        key = (name.lower().rstrip("."), kind)
        entry = self._entries.get(key)
        if entry is None or entry[0] <= now:
            self._entries.pop(key, None)
            return None
        return entry[1]

    def put(self, name: str, kind: str, addresses: Iterable[str], *, now: float) -> None:
        key = (name.lower().rstrip("."), kind)
        self._entries[key] = (now + self.ttl, tuple(addresses))
        self._entries.move_to_end(key)
        while len(self._entries) > self.limit:
            self._entries.popitem(last=False)
