"""Policy and profile specs: mirrord's fields load as they are, mistakes are one line each."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import yaml

from podtap.core.policy.models import (
    Blocked,
    Change,
    PolicyError,
    parse_policy_spec,
    parse_profile_spec,
)

EXAMPLES = Path(__file__).parents[3] / "examples" / "policies"

MIRRORD_FULL: dict[str, Any] = {  # every field of mirrord's v1alpha MirrordPolicy spec
    "targetPath": "deploy/boats*",
    "selector": {"matchLabels": {"app": "boats"}, "matchExpressions": None},
    "appliesToCopyTargets": True,
    "block": ["steal", "steal-without-filter", "mirror", "copy-target-scale-down"],
    "env": {"exclude": ["DATABASE_*"]},
    "fs": {"readOnly": ["^/data"], "local": ["^/tmp"], "notFound": ["^/secrets"]},
    "network": {
        "incoming": {"httpFilter": {"headerFilter": "x-user: .+"}},
        "outgoing": {
            "allow": [{"ipBlock": {"cidr": "10.0.0.0/8", "except": []}, "hostname": None}],
            "block": [{"hostname": "db", "ports": [{"protocol": "TCP", "port": 5432}]}],
        },
    },
    "requireProfile": True,
    "profileAllowlist": ["a", "ns/b"],
}


def test_a_whole_mirrord_spec_loads_with_its_meaning() -> None:
    spec = parse_policy_spec(MIRRORD_FULL, name="shop/boats")
    assert spec.target_path == "deploy/boats*"
    assert set(spec.block) == set(Blocked)
    assert spec.fs.not_found == ["^/secrets"]
    assert spec.network.incoming.http_filter.header_filter == "x-user: .+"
    assert spec.network.outgoing.block[0].ports[0].port == 5432
    assert spec.require_profile and spec.profile_allowlist == ["a", "ns/b"]


def test_an_empty_spec_blocks_nothing() -> None:
    spec = parse_policy_spec({}, name="x")
    assert (spec.block, spec.env.exclude, spec.require_profile) == ([], [], False)


@pytest.mark.parametrize(
    ("spec", "message"),
    [
        ({"blocks": ["steal"]}, "policy shop/p: spec.blocks: unknown field"),
        ({"block": ["steal-all"]}, "policy shop/p: spec.block[0]: Input should be 'steal'"),
        ({"fs": {"read_only": []}}, "policy shop/p: spec.fs.read_only: unknown field"),
        (
            {"network": {"outgoing": {"block": [{"ipBlock": {"cidr": "10.0.0/33"}}]}}},
            "policy shop/p: spec.network.outgoing.block[0].ipBlock.cidr: ",
        ),
        (
            {"network": {"outgoing": {"allow": [{"ports": [{"protocol": "TCP", "port": 70000}]}]}}},
            "spec.network.outgoing.allow[0].ports[0].port: Input should be less than or equal",
        ),
        ({"fs": {"notFound": ["(a)\\1"]}}, "spec.fs.notFound: backreference \\1 is not supported"),
        ({"selector": {"matchExpressions": [{"key": "a", "operator": "Gt"}]}}, "operator: Input"),
        ({"selector": {"matchLabels": {"-a": "b"}}}, "spec.selector: key: Invalid value"),
    ],
)
def test_a_bad_policy_field_is_one_line_naming_its_path(spec: Any, message: str) -> None:
    with pytest.raises(PolicyError) as caught:
        parse_policy_spec(spec, name="shop/p")
    assert message in str(caught.value)
    assert "\n" not in str(caught.value)


def test_a_mirrord_profile_loads() -> None:
    spec = parse_profile_spec({"featureAdjustments": [{"change": "incoming-steal"}]}, name="p")
    assert [a.change for a in spec.feature_adjustments] == [Change.INCOMING_STEAL]


@pytest.mark.parametrize(
    ("spec", "message"),
    [
        ({"featureAdjustments": [{"change": "steal"}]}, "spec.featureAdjustments[0].change: "),
        ({"featureAdjustments": [{"change": "dns-off", "why": 1}]}, "[0].why: unknown field"),
        ({"config": {"feature": {"envv": {}}}}, "spec.config.feature.envv: not a known key"),
        ({"config": {"feature": {"fs": "sideways"}}}, "spec.config.feature.fs.mode: Input"),
        ({"adjustments": []}, "profile p: spec.adjustments: unknown field"),
    ],
)
def test_a_bad_profile_field_is_one_line_naming_its_path(spec: Any, message: str) -> None:
    with pytest.raises(PolicyError) as caught:
        parse_profile_spec(spec, name="p")
    assert message in str(caught.value)
    assert "\n" not in str(caught.value)


def test_the_mirrord_example_loads_unchanged() -> None:
    doc = yaml.safe_load((EXAMPLES / "mirrord-block-steal-without-filter.yaml").read_text())
    spec = parse_policy_spec(doc["spec"], name=doc["metadata"]["name"])
    assert spec.block == [Blocked.STEAL_WITHOUT_FILTER]
