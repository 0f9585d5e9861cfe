"""Shorthand forms, canonical form and validation of the config models."""

from __future__ import annotations

from typing import Any

import pytest

from podtap.core.config import (
    ConfigError,
    FsMode,
    IncomingMode,
    OnConcurrentSteal,
    ResolvedConfig,
    parse_filter_item,
    validate_config,
)


def feature(**kw: Any) -> ResolvedConfig:
    return validate_config({"feature": kw})[0]


def errors(data: dict[str, Any]) -> dict[str, str]:
    with pytest.raises(ConfigError) as e:
        validate_config(data, source="f.json")
    assert all(i.source == "f.json" for i in e.value.issues)
    return {i.path: i.message for i in e.value.issues}


def test_defaults() -> None:
    c = ResolvedConfig()
    assert c.target.path is None and c.operator is None
    assert c.feature.env.enabled and c.feature.env.include is None
    assert c.feature.fs.mode is FsMode.READ
    assert c.feature.network.incoming.mode is IncomingMode.MIRROR
    assert c.feature.network.incoming.on_concurrent_steal is OnConcurrentSteal.ABORT
    assert c.feature.network.incoming.http_filter.ports is None
    assert not c.feature.network.incoming.http_filter.is_set
    assert c.feature.network.outgoing.tcp and c.feature.network.outgoing.udp
    assert c.feature.network.dns.enabled
    assert not c.feature.copy_target.enabled


def test_target_shorthand() -> None:
    c = validate_config({"target": "deployment/api/container/main"})[0]
    assert c.target.path == "deployment/api/container/main" and c.target.namespace is None
    c = validate_config({"target": {"path": "targetless", "namespace": "ns"}})[0]
    assert (c.target.path, c.target.namespace) == ("targetless", "ns")
    assert "target.path" in errors({"target": "frob/x"})


@pytest.mark.parametrize(
    ("value", "enabled", "include", "exclude"),
    [
        (True, True, None, []),
        (False, False, None, []),
        ({"include": "A;B_*"}, True, ["A", "B_*"], []),
        ({"exclude": ["X", "Y?"]}, True, None, ["X", "Y?"]),
    ],
)
def test_env_shorthands(value: Any, enabled: bool, include: Any, exclude: Any) -> None:
    env = feature(env=value).feature.env
    assert (env.enabled, env.include, env.exclude) == (enabled, include, exclude)


def test_env_full() -> None:
    env = feature(
        env={"override": {"A": "1"}, "unset": "B;C", "env_file": ".env", "include": []}
    ).feature.env
    assert env.override == {"A": "1"} and env.unset == ["B", "C"] and env.env_file == ".env"
    assert "feature.env" in errors({"feature": {"env": {"include": "A", "exclude": "B"}}})


@pytest.mark.parametrize(
    ("value", "mode"),
    [("read", "read"), ("localwithoverrides", "localwithoverrides"), (False, "local")],
)
def test_fs_shorthands(value: Any, mode: str) -> None:
    assert feature(fs=value).feature.fs.mode == mode


def test_fs_lists() -> None:
    fs = feature(fs={"mode": "write", "local": "^/tmp/.*", "not_found": ["^/x$"]}).feature.fs
    assert fs.local == ["^/tmp/.*"] and fs.not_found == ["^/x$"] and fs.read_only == []
    bad = errors({"feature": {"fs": {"mode": "rw", "read_only": ["("]}}})
    assert set(bad) == {"feature.fs.mode", "feature.fs.read_only"}
    assert "invalid regular expression" in bad["feature.fs.read_only"]


@pytest.mark.parametrize("mode", ["mirror", "steal", "off"])
def test_incoming_shorthand(mode: str) -> None:
    assert feature(network={"incoming": mode}).feature.network.incoming.mode == mode


def test_incoming_full() -> None:
    inc = feature(
        network={
            "incoming": {
                "mode": "steal",
                "port_mapping": [[8080, 80]],
                "ports": [80],
                "ignore_ports": [9999],
                "ignore_localhost": True,
                "on_concurrent_steal": "override",
                "http_filter": {
                    "any_of": [{"header": "x-user: me"}, {"path": "^/api"}, {"method": "get"}],
                    "ports": [80, 8080],
                },
            }
        }
    ).feature.network.incoming
    assert inc.port_mapping == [(8080, 80)] and inc.ports == [80]
    assert inc.on_concurrent_steal is OnConcurrentSteal.OVERRIDE
    assert inc.http_filter.any_of is not None and inc.http_filter.any_of[2].method == "GET"
    assert inc.http_filter.is_set


def test_incoming_errors() -> None:
    bad = errors(
        {
            "feature": {
                "network": {
                    "incoming": {
                        "mode": "copy",
                        "ports": [0],
                        "on_concurrent_steal": "fight",
                        "http_filter": {"all_of": [{"header": "a", "path": "b"}]},
                    }
                }
            }
        }
    )
    assert set(bad) == {
        "feature.network.incoming.mode",
        "feature.network.incoming.ports[0]",
        "feature.network.incoming.on_concurrent_steal",
        "feature.network.incoming.http_filter.all_of[0]",
    }
    bad = errors(
        {
            "feature": {
                "network": {"incoming": {"http_filter": {"header_filter": "a", "path_filter": "b"}}}
            }
        }
    )
    assert "only one of header_filter, path_filter" in bad["feature.network.incoming.http_filter"]


def test_outgoing_and_dns() -> None:
    net = feature(
        network={
            "outgoing": {"udp": False, "filter": {"local": ["udp://:53", "10.0.0.0/8", "db:5432"]}},
            "dns": {"filter": {"remote": "svc.cluster.local;10.96.0.10"}},
        }
    ).feature.network
    assert net.outgoing.tcp and not net.outgoing.udp
    assert net.outgoing.filter is not None and net.outgoing.filter.kind == "local"
    assert [i.kind for i in net.outgoing.filter.items] == ["any", "subnet", "name"]
    assert net.dns.enabled and net.dns.filter is not None
    assert net.dns.filter.remote == ["svc.cluster.local", "10.96.0.10"]
    net = feature(network={"outgoing": False, "dns": False}).feature.network
    assert not net.outgoing.tcp and not net.outgoing.udp and not net.dns.enabled


def test_outgoing_filter_errors() -> None:
    bad = errors(
        {
            "feature": {
                "network": {
                    "outgoing": {"filter": {"remote": ["ok.example", "sctp://x", "1.2.3.4:70000"]}},
                    "dns": {"filter": {"remote": ["a"], "local": ["b"]}},
                }
            }
        }
    )
    assert set(bad) == {
        "feature.network.outgoing.filter.remote[1]",
        "feature.network.outgoing.filter.remote[2]",
        "feature.network.dns.filter",
    }


@pytest.mark.parametrize(
    ("text", "parsed"),
    [
        ("tcp://example.com:443", ("tcp", "name", "example.com", 443)),
        ("udp://:53", ("udp", "any", None, 53)),
        ("[::1]:8080", (None, "ip", "::1", 8080)),
        ("10.1.2.3", (None, "ip", "10.1.2.3", None)),
        ("10.0.0.0/8:80", (None, "subnet", "10.0.0.0/8", 80)),
        ("*.svc.cluster.local", (None, "name", "*.svc.cluster.local", None)),
    ],
)
def test_parse_filter_item(text: str, parsed: tuple[Any, ...]) -> None:
    i = parse_filter_item(text)
    assert (i.protocol, i.kind, i.host, i.port) == parsed


@pytest.mark.parametrize("text", ["", "http://x", "a b", "x:0", "[nope]:1", "1.2.3.0/99"])
def test_parse_filter_item_rejects(text: str) -> None:
    with pytest.raises(ValueError):
        parse_filter_item(text)


def test_split_queues_and_copy_target() -> None:
    f = feature(
        split_queues={"orders": {"queue_type": "sqs", "message_filter": {"user": "^me$"}}},
        copy_target={"scale_down": True},
    ).feature
    assert [(q.queue_id, q.queue_type) for q in f.split_queues] == [("orders", "SQS")]
    assert f.copy_target.enabled and f.copy_target.scale_down
    assert feature(copy_target=True).feature.copy_target.enabled
    bad = errors(
        {"feature": {"split_queues": {"q": {"queue_type": "MQ", "message_filter": {"a": "("}}}}}
    )
    assert set(bad) == {
        "feature.split_queues.q.queue_type",
        "feature.split_queues.q.message_filter",
    }


def test_canonical_form_round_trips() -> None:
    c = validate_config(
        {
            "target": "pod/a",
            "feature": {
                "env": {"include": "A;B"},
                "fs": "write",
                "network": {"incoming": "steal", "outgoing": {"filter": {"remote": ":53"}}},
                "copy_target": True,
            },
        }
    )[0]
    dumped = c.model_dump(mode="json")
    assert dumped["target"] == {"path": "pod/a", "namespace": None}
    assert dumped["feature"]["env"]["include"] == ["A", "B"]
    assert ResolvedConfig.model_validate(dumped) == c


def test_mirrord_keys_not_supported_are_warnings() -> None:
    c, warnings = validate_config(
        {
            "$schema": "x",
            "agent": {"ttl": 3},
            "feature": {
                "hostname": True,
                "network": {"incoming": {"mode": "steal", "tls_delivery": {}}},
                "split_queues": {
                    "q": {"queue_type": "Kafka", "payload_protobuf": {"message_type": "x.Y"}}
                },
            },
        },
        source="mirrord.json",
    )
    assert c.feature.network.incoming.mode is IncomingMode.STEAL
    assert warnings == [
        "mirrord.json: agent is not supported yet; ignored",
        "mirrord.json: feature.hostname is not supported yet; ignored",
        "mirrord.json: feature.network.incoming.tls_delivery is not supported yet; ignored",
        "mirrord.json: feature.split_queues.q.payload_protobuf is not supported yet; ignored",
    ]
    assert "agent" not in c.model_dump()


def test_unknown_keys_are_errors_naming_their_path() -> None:
    with pytest.raises(ConfigError) as e:
        validate_config(
            {
                "frobnicate": 1,
                "feature": {
                    "network": {"incoming": {"http_filter": {"header_fliter": "x: 1"}}},
                    "split_queues": {"q": {"queue_type": "SQS", "extra": 1}},
                },
            },
            source="mirrord.json",
        )
    assert [(i.path, i.source) for i in e.value.issues] == [
        ("frobnicate", "mirrord.json"),
        ("feature.network.incoming.http_filter.header_fliter", "mirrord.json"),
        ("feature.split_queues.q.extra", "mirrord.json"),
    ]
    assert "not a known key" in str(e.value.issues[0]) and "\n" not in str(e.value.issues[0])
