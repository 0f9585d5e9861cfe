"""Where the app's connections and lookups go (pure rules for outgoing and dns filters)."""

from __future__ import annotations

import pytest

from podtap.core.config import validate_config
from podtap.core.config.filter_items import parse_filter_item
from podtap.core.jailconf import jail_nsswitch, local_resolv_conf
from podtap.core.outgoing_filter import (
    DnsCache,
    DnsRules,
    Lookup,
    OutgoingRules,
    ResolvedNames,
    Route,
    item_matches,
    network_rules,
    search_stems,
)

SEARCH = ("default.svc.cluster.local", "svc.cluster.local", "cluster.local")


def rules(mode: str, *items: str, **kw: bool) -> OutgoingRules:
    parsed = tuple(parse_filter_item(i) for i in items)
    return OutgoingRules(mode=mode, items=parsed, **kw)  # type: ignore[arg-type]


def tcp(r: OutgoingRules, address: str, port: int, *names: str) -> Route:
    return r.route(protocol="tcp", address=address, port=port, names=names)


@pytest.mark.parametrize(
    ("item", "protocol", "address", "port", "names", "hit"),
    [
        ("10.0.0.1", "tcp", "10.0.0.1", 80, (), True),
        ("10.0.0.1", "tcp", "10.0.0.2", 80, (), False),
        ("10.0.0.0/24:5432", "tcp", "10.0.0.9", 5432, (), True),
        ("10.0.0.0/24:5432", "tcp", "10.0.0.9", 5433, (), False),
        ("10.0.0.0/24", "tcp", "::1", 1, (), False),
        ("udp://:53", "udp", "8.8.8.8", 53, (), True),
        ("udp://:53", "tcp", "8.8.8.8", 53, (), False),
        ("tcp://db:5432", "tcp", "10.96.0.7", 5432, ("db",), True),
        ("db", "tcp", "10.96.0.7", 5432, ("catalog",), False),
        ("*.example.com", "tcp", "1.2.3.4", 443, ("api.example.com",), True),
        ("localhost:6379", "tcp", "127.0.0.1", 6379, (), True),
        ("[::1]:80", "tcp", "::1", 80, (), True),
        (":8080", "tcp", "1.1.1.1", 8080, (), True),
    ],
)
def test_items(
    item: str, protocol: str, address: str, port: int, names: tuple[str, ...], hit: bool
) -> None:
    parsed = parse_filter_item(item)
    got = item_matches(parsed, protocol=protocol, address=address, port=port, names=names)  # type: ignore[arg-type]
    assert got is hit


def test_no_filter_sends_everything_to_the_pod_and_disabled_protocols_stay_here() -> None:
    assert tcp(OutgoingRules(), "1.2.3.4", 80) is Route.REMOTE
    assert tcp(OutgoingRules(tcp=False), "1.2.3.4", 80) is Route.LOCAL
    udp = OutgoingRules(udp=False)
    assert udp.route(protocol="udp", address="1.2.3.4", port=53) is Route.LOCAL
    assert tcp(udp, "1.2.3.4", 80) is Route.REMOTE


def test_remote_filter_keeps_only_matches_in_the_pod() -> None:
    r = rules("remote", "catalog:9090", "10.96.0.0/16")
    assert tcp(r, "10.244.0.5", 9090, "catalog") is Route.REMOTE
    assert tcp(r, "10.96.3.3", 1) is Route.REMOTE
    assert tcp(r, "192.0.2.2", 9090) is Route.LOCAL
    assert tcp(r, "10.244.0.5", 80, "catalog") is Route.LOCAL


def test_local_filter_keeps_matches_here() -> None:
    r = rules("local", "db", "udp://:53")
    assert tcp(r, "10.0.0.1", 5432, "db") is Route.LOCAL
    assert tcp(r, "10.0.0.1", 5432) is Route.REMOTE
    assert r.route(protocol="udp", address="8.8.8.8", port=53) is Route.LOCAL


def test_loopback_ports_the_jail_hands_out() -> None:
    r = rules("local", "localhost:5432", "127.0.0.1:6379", "udp://127.0.0.1:53", "db:1", ":99")
    assert r.loopback_tcp_ports() == {5432, 6379}
    assert rules("local", "localhost:5432", ignore_localhost=True).loopback_tcp_ports() == set()
    assert OutgoingRules().loopback_tcp_ports() == set()


def test_search_stems() -> None:
    assert search_stems("catalog.default.svc.cluster.local.", SEARCH) == [
        "catalog",
        "catalog.default",
        "catalog.default.svc",
    ]
    assert search_stems("example.com", SEARCH) == []
    assert search_stems("cluster.local", SEARCH) == []


def dns(mode: str | None, *items: str, enabled: bool = True) -> DnsRules:
    parsed = tuple(parse_filter_item(i) for i in items)
    return DnsRules(enabled=enabled, mode=mode, items=parsed, search=SEARCH)  # type: ignore[arg-type]


def test_dns_without_filter_or_disabled() -> None:
    assert dns(None).lookup("catalog.default.svc.cluster.local") is Lookup.REMOTE
    assert dns(None, enabled=False).lookup("catalog") is Lookup.LOCAL


def test_dns_local_filter_lets_the_resolver_reach_the_bare_name() -> None:
    d = dns("local", "vm", "*.corp.example")
    assert d.lookup("vm.default.svc.cluster.local") is Lookup.NOT_FOUND
    assert d.lookup("VM.") is Lookup.LOCAL
    assert d.lookup("git.corp.example") is Lookup.LOCAL
    assert d.lookup("catalog.default.svc.cluster.local") is Lookup.REMOTE
    assert d.lookup("example.com") is Lookup.REMOTE


def test_dns_remote_filter_resolves_the_rest_here() -> None:
    d = dns("remote", "catalog")
    assert d.lookup("catalog.default.svc.cluster.local") is Lookup.REMOTE
    assert d.lookup("catalog") is Lookup.REMOTE
    assert d.lookup("example.com.default.svc.cluster.local") is Lookup.NOT_FOUND
    assert d.lookup("example.com") is Lookup.LOCAL


def test_dns_items_with_a_port_or_an_address_never_match_a_name() -> None:
    d = dns("local", "vm:53", "10.0.0.1")
    assert d.lookup("vm") is Lookup.REMOTE


def test_resolved_names_remember_what_the_app_typed_and_are_bounded() -> None:
    names = ResolvedNames(search=SEARCH, limit=2)
    names.record("catalog.default.svc.cluster.local.", ["10.96.0.4"])
    assert "catalog" in names.names_of("10.96.0.4")
    assert "catalog.default.svc.cluster.local" in names.names_of("10.96.0.4")
    names.record("a", ["1.1.1.1"])
    names.record("b", ["2.2.2.2"])
    assert names.names_of("10.96.0.4") == frozenset()
    assert names.names_of("2.2.2.2") == {"b"}


def test_dns_cache_expires_and_caches_not_found() -> None:
    cache = DnsCache(ttl=5, limit=2)
    assert cache.get("x", "A", now=0) is None
    cache.put("X.", "A", ["1.2.3.4"], now=0)
    cache.put("nope", "A", [], now=0)
    assert cache.get("x", "A", now=4.9) == ("1.2.3.4",)
    assert cache.get("nope", "A", now=1) == ()
    assert cache.get("x", "AAAA", now=1) is None
    assert cache.get("x", "A", now=5) is None
    cache.put("c", "A", [], now=0)
    cache.put("d", "A", [], now=0)
    assert cache.get("nope", "A", now=1) is None  # evicted: the cache is bounded


def test_rules_from_a_mirrord_config() -> None:
    config, _ = validate_config(
        {
            "feature": {
                "network": {
                    "outgoing": {"udp": False, "filter": {"local": ["localhost:5432", "db"]}},
                    "dns": {"filter": {"remote": "catalog;web"}},
                }
            }
        }
    )
    r = network_rules(config.feature.network, search=SEARCH)
    assert r.outgoing.mode == "local" and not r.outgoing.udp and r.outgoing.tcp
    assert r.outgoing.loopback_tcp_ports() == {5432}
    assert r.dns.mode == "remote" and r.dns.lookup("web") is Lookup.REMOTE
    off, _ = validate_config({"feature": {"network": {"dns": False, "outgoing": False}}})
    r = network_rules(off.feature.network)
    assert not r.dns.enabled and not r.outgoing.tcp and not r.outgoing.udp


def test_jail_nsswitch_keeps_the_rest_and_asks_files_then_dns() -> None:
    host = "passwd: files systemd\n# hosts: ignored comment\nhosts: files mdns4 resolve dns\n"
    out = jail_nsswitch(host)
    assert "passwd: files systemd" in out
    assert [line for line in out.splitlines() if line.startswith("hosts")] == ["hosts: files dns"]
    assert "passwd: files" in jail_nsswitch(None)


def test_local_resolv_conf_uses_this_machines_search_list() -> None:
    host = "nameserver 10.0.0.1\nsearch corp.example\noptions edns0\n"
    assert local_resolv_conf(host, nameserver="127.0.0.53") == (
        "nameserver 127.0.0.53\nsearch corp.example\noptions edns0\n"
    )
    assert local_resolv_conf(None, nameserver="127.0.0.53") == "nameserver 127.0.0.53\n"
