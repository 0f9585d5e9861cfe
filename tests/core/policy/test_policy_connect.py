"""Profile rules at connect: required if any policy requires one, in every allowlist present."""

from __future__ import annotations

from podtap.core.policy.connect import connect_refusal, scale_down_refusal
from tests.core.policy.helpers import policy

REQUIRE = policy("req", None, requireProfile=True)
LIST_A = policy("a", profileAllowlist=["mirror-only", "shop/readonly"])
LIST_B = policy("b", profileAllowlist=["shop/readonly"])


def test_a_required_profile_refuses_a_session_without_one() -> None:
    assert connect_refusal([REQUIRE], profile=None, target="deployment/api") == (
        "cluster policy req requires a profile on deployment/api: set profile or --profile"
    )
    assert connect_refusal([REQUIRE], profile="anything", target="t") is None


def test_a_profile_must_be_in_every_allowlist() -> None:
    assert connect_refusal([LIST_A, LIST_B], profile="shop/readonly", target="t") is None
    assert connect_refusal([LIST_A, LIST_B], profile="mirror-only", target="deployment/api") == (
        "policy shop/b does not allow profile mirror-only on deployment/api "
        "(allowed: shop/readonly)"
    )


def test_no_profile_passes_allowlists_unless_one_is_required() -> None:
    assert connect_refusal([LIST_A], profile=None, target="t") is None
    assert connect_refusal([LIST_A, REQUIRE], profile=None, target="t") is not None


def test_an_empty_allowlist_allows_no_profile() -> None:
    none = policy("n", profileAllowlist=[])
    assert connect_refusal([none], profile="p", target="t") == (
        "policy shop/n does not allow profile p on t (allowed: none)"
    )


def test_copy_target_scale_down_can_be_blocked() -> None:
    blocks = policy("keep-up", block=["copy-target-scale-down"], appliesToCopyTargets=True)
    assert scale_down_refusal([blocks], target="deployment/api") == (
        "policy shop/keep-up blocks copy-target scale-down of deployment/api: "
        "set feature.copy_target.scale_down false"
    )
    assert scale_down_refusal([policy("other", block=["steal"])], target="t") is None
