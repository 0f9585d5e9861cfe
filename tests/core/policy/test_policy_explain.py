"""explain: what applies to a session and what each blocks or changes, as data and text."""

from __future__ import annotations

import dataclasses
import json

from podtap.core.config import validate_config
from podtap.core.policy.explain import explain
from podtap.core.policy.models import parse_profile_spec
from podtap.core.policy.profiles import FoundProfile
from tests.core.policy.helpers import API, policy

STEAL = validate_config({"feature": {"network": {"incoming": "steal"}}})[0]
NO_UNFILTERED = policy("no-unfiltered", block=["steal-without-filter"])
ELSEWHERE = policy("elsewhere", "billing", block=["mirror"])
NEEDS = policy("needs", None, requireProfile=True, env={"exclude": ["DATABASE_*"]})
MIRROR_ONLY = FoundProfile(
    name="mirror-only",
    namespace=None,
    spec=parse_profile_spec({"featureAdjustments": [{"change": "incoming-mirror"}]}, name="m"),
)


def test_an_unfiltered_steal_is_refused_naming_the_policy() -> None:
    got = explain([NO_UNFILTERED, ELSEWHERE], [], target=API, config=STEAL, profile=None)
    assert got.lines() == [
        "target deployment/api",
        "policy shop/no-unfiltered",
        "  blocks steal-without-filter",
        "refused: subscribe: policy shop/no-unfiltered blocks steal without an HTTP filter on "
        "deployment/api: set feature.network.incoming.http_filter",
    ]
    data = json.loads(json.dumps(got.to_json()))
    assert data["policies"] == [
        {"name": "policy shop/no-unfiltered", "effects": ["blocks steal-without-filter"]}
    ]


def test_a_profile_shows_its_changes_and_turns_the_steal_into_a_mirror() -> None:
    got = explain(
        [NO_UNFILTERED, NEEDS], [MIRROR_ONLY], target=API, config=STEAL, profile="mirror-only"
    )
    assert got.refusals == []
    assert got.lines()[-3:] == [
        "profile mirror-only",
        "  featureAdjustments: incoming-mirror",
        "allowed",
    ]
    assert got.config["feature"]["network"]["incoming"]["mode"] == "mirror"
    assert got.policies[1].effects == ["excludes env DATABASE_*", "requires a profile"]


def test_a_required_profile_missing_or_unknown_is_said() -> None:
    missing = explain([NEEDS], [], target=API, config=STEAL, profile=None)
    assert missing.refusals == [
        "cluster policy needs requires a profile on deployment/api: set profile or --profile"
    ]
    unknown = explain([NEEDS], [], target=API, config=STEAL, profile="nope")
    assert unknown.refusals == ["profile nope not found"]


def test_nothing_applies() -> None:
    got = explain([ELSEWHERE], [], target=API, config=STEAL, profile=None)
    assert got.lines() == ["target deployment/api", "no policy applies", "allowed"]


def test_a_copy_target_scale_down_is_refused_when_blocked() -> None:
    config = validate_config({"feature": {"copy_target": {"scale_down": True}}})[0]
    keep = policy("keep", block=["copy-target-scale-down"], appliesToCopyTargets=True)
    copy = dataclasses.replace(API, copy=True)
    got = explain([keep], [], target=copy, config=config, profile=None)
    assert got.refusals == [
        "policy shop/keep blocks copy-target scale-down of deployment/api: "
        "set feature.copy_target.scale_down false"
    ]


def test_a_profile_that_does_not_fit_is_a_refusal() -> None:
    spec = {"config": {"feature": {"network": {"incoming": {"http_filter": {"path_filter": "/"}}}}}}
    bad = FoundProfile(name="b", namespace=None, spec=parse_profile_spec(spec, name="b"))
    config = validate_config(
        {"feature": {"network": {"incoming": {"http_filter": {"header_filter": "a"}}}}}
    )[0]
    got = explain([], [bad], target=API, config=config, profile="b")
    assert got.refusals == [
        "profile b does not fit your config: feature.network.incoming.http_filter: "
        "only one of header_filter, path_filter may be set"
    ]
