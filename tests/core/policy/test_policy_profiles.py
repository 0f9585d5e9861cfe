"""Profiles: featureAdjustments in order, then the partial config over the user's; what a
profile fixed is kept for enforcement."""

from __future__ import annotations

from typing import Any

import pytest

from podtap.core.config import IncomingMode, ResolvedConfig, validate_config
from podtap.core.policy.models import PolicyError, parse_profile_spec
from podtap.core.policy.profiles import FoundProfile, apply_profile, merge

USER: dict[str, Any] = {
    "target": "deployment/api",
    "feature": {
        "network": {
            "incoming": {"mode": "steal", "http_filter": {"header_filter": "x-user: me"}},
            "outgoing": {"filter": {"local": ["10.0.0.0/8"]}},
            "dns": False,
        },
        "env": {"exclude": ["HOME"]},
    },
}


def _user() -> ResolvedConfig:
    return validate_config(USER)[0]


def _profile(spec: dict[str, Any], namespace: str | None = None) -> FoundProfile:
    return FoundProfile(name="p", namespace=namespace, spec=parse_profile_spec(spec, name="p"))


def _changes(*changes: str) -> dict[str, Any]:
    return {"featureAdjustments": [{"change": c} for c in changes]}


def test_no_profile_is_the_users_config() -> None:
    effective = apply_profile(_user(), None)
    assert effective.config == _user() and effective.fixes is None


def test_a_profile_turning_steal_into_mirror_keeps_the_filter_and_fixes_incoming() -> None:
    effective = apply_profile(_user(), _profile(_changes("incoming-mirror")))
    incoming = effective.config.feature.network.incoming
    assert incoming.mode is IncomingMode.MIRROR
    assert incoming.http_filter.header_filter == "x-user: me"
    assert effective.fixes is not None and effective.fixes.incoming is IncomingMode.MIRROR
    assert effective.fixes.profile == "profile p" and effective.fixes.outgoing is None


def test_adjustments_apply_in_order() -> None:
    later_wins = apply_profile(_user(), _profile(_changes("incoming-off", "incoming-steal")))
    assert later_wins.config.feature.network.incoming.mode is IncomingMode.STEAL


def test_dns_and_outgoing_changes() -> None:
    net = apply_profile(
        _user(), _profile(_changes("dns-remote", "outgoing-off"))
    ).config.feature.network
    assert net.dns.enabled and net.dns.filter is None
    assert (net.outgoing.tcp, net.outgoing.udp) == (False, False)
    remote = apply_profile(_user(), _profile(_changes("outgoing-remote")))
    out = remote.config.feature.network.outgoing
    assert (out.tcp, out.udp, out.filter) == (True, True, None)
    assert remote.fixes is not None and remote.fixes.outgoing is True


def test_the_partial_config_merges_over_the_users_after_the_adjustments() -> None:
    spec = {
        **_changes("incoming-off"),
        "config": {
            "feature": {"network": {"incoming": {"mode": "mirror"}}, "env": {"unset": ["X"]}}
        },
    }
    effective = apply_profile(_user(), _profile(spec, "shop"))
    assert effective.config.feature.network.incoming.mode is IncomingMode.MIRROR
    assert effective.config.feature.env.exclude == ["HOME"]  # merged, not replaced
    assert effective.config.feature.env.unset == ["X"]
    assert effective.fixes is not None and effective.fixes.profile == "profile shop/p"
    assert effective.changes == (
        "featureAdjustments: incoming-off",
        "config: feature.env.unset, feature.network.incoming.mode",
    )


def test_a_shorthand_in_the_profile_replaces_its_section() -> None:
    effective = apply_profile(
        _user(), _profile({"config": {"feature": {"network": {"incoming": "mirror"}}}})
    )
    incoming = effective.config.feature.network.incoming
    assert incoming.mode is IncomingMode.MIRROR and not incoming.http_filter.is_set


def test_merge_is_key_by_key_for_mappings_only() -> None:
    assert merge({"a": {"b": 1, "c": [1]}}, {"a": {"c": [2]}, "d": 3}) == {
        "a": {"b": 1, "c": [2]},
        "d": 3,
    }


def test_a_profile_that_does_not_fit_the_users_config_is_one_line() -> None:
    adds = {"config": {"feature": {"network": {"incoming": {"http_filter": {"path_filter": "/"}}}}}}
    with pytest.raises(PolicyError) as caught:
        apply_profile(_user(), _profile(adds, "shop"))
    assert str(caught.value) == (
        "profile shop/p does not fit your config: feature.network.incoming.http_filter: "
        "only one of header_filter, path_filter may be set"
    )
