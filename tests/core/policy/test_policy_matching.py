"""Which policies apply: namespace, targetPath wildcards, label selectors, copy targets."""

from __future__ import annotations

import dataclasses
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from podtap.core.policy.globs import glob_matches
from podtap.core.policy.matching import SessionTarget, applicable
from tests.core.policy.helpers import API, policy

WITH_CONTAINER = dataclasses.replace(API, container="app")
TARGETLESS = SessionTarget(kind=None, namespace="shop")


@pytest.mark.parametrize(
    ("pattern", "text", "matches"),
    [
        ("*", "deployment/api", True),
        ("deploy/*", "deploy/api", True),
        ("*boats*", "pod/x/container/boats-container", True),
        ("deploy/api", "deploy/api/container/app", False),
        ("deploy/api*", "deploy/api/container/app", True),
        ("pod/api-?", "pod/api-1", True),
        ("pod/api-?", "pod/api-12", False),
        ("pod/[ab]", "pod/a", False),  # only * and ? are special
        ("pod/[ab]", "pod/[ab]", True),
        ("Deploy/*", "deploy/api", False),
        ("DATABASE_*", "DATABASE_URL", True),
        ("DATABASE_*", "MY_DATABASE_URL", False),
    ],
)
def test_wildcards_are_mirrords(pattern: str, text: str, matches: bool) -> None:
    assert glob_matches(pattern, text) is matches


@pytest.mark.parametrize(
    ("spec", "target", "applies"),
    [
        ({}, API, True),
        ({"targetPath": "deploy/api"}, API, True),  # mirrord's spelling of the kind
        ({"targetPath": "deployment/api"}, API, True),
        ({"targetPath": "deployment/api"}, WITH_CONTAINER, False),
        ({"targetPath": "deployment/api*"}, WITH_CONTAINER, True),
        ({"targetPath": "pod/*"}, API, False),
        ({"targetPath": "targetless"}, TARGETLESS, True),
        ({"targetPath": "*"}, TARGETLESS, True),
        ({"selector": {"matchLabels": {"app": "api"}}}, API, True),
        ({"selector": {"matchLabels": {"app": "web"}}}, API, False),
        ({"selector": {"matchLabels": {"app": "api"}}}, TARGETLESS, False),
        (
            {"selector": {"matchExpressions": [{"key": "tier", "operator": "DoesNotExist"}]}},
            API,
            True,
        ),
        ({"selector": {}}, API, True),
        ({"targetPath": "deploy/*", "selector": {"matchLabels": {"app": "web"}}}, API, False),
    ],
)
def test_target_path_and_selector(
    spec: dict[str, Any], target: SessionTarget, applies: bool
) -> None:
    assert (applicable([policy(**spec)], target=target) != []) is applies


def test_a_namespaced_policy_applies_only_in_its_namespace() -> None:
    here, there, cluster = policy("a"), policy("b", "billing"), policy("c", None)
    assert applicable([here, there, cluster], target=API) == [here, cluster]


def test_copy_targets_see_only_policies_that_say_so() -> None:
    plain, opted = policy("a"), policy("b", appliesToCopyTargets=True)
    copy = dataclasses.replace(API, copy=True)
    assert applicable([plain, opted], target=copy) == [opted]
    assert applicable([plain, opted], target=API) == [plain, opted]


def test_labels_name_policies_in_refusals() -> None:
    assert policy("a").label == "policy shop/a"
    assert policy("a", None).label == "cluster policy a"


def _reference(pattern: str, text: str) -> bool:
    """Wildcard matching by recursion (slow and obvious)."""
    if not pattern:
        return not text
    head, rest = pattern[0], pattern[1:]
    if head == "*":
        return any(_reference(rest, text[i:]) for i in range(len(text) + 1))
    return bool(text) and (head == "?" or head == text[0]) and _reference(rest, text[1:])


_ALPHABET = st.sampled_from(["a", "b", "/", ".", "[", "\\", "(", "+"])


@given(
    pattern=st.lists(st.one_of(_ALPHABET, st.sampled_from(["*", "?"])), max_size=8).map("".join),
    text=st.lists(_ALPHABET, max_size=8).map("".join),
)
def test_wildcards_agree_with_a_reference_matcher(pattern: str, text: str) -> None:
    assert glob_matches(pattern, text) is _reference(pattern, text)
