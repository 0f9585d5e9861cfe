"""Subscribe rules: block steal / mirror / steal-without-filter, the required header filter
with plain, all_of and any_of filters, several policies at once, and a profile's fix."""

from __future__ import annotations

from typing import Any

import pytest

from podtap.core.config import IncomingMode as ConfigMode
from podtap.core.policy.incoming import subscribe_refusal
from podtap.core.policy.profiles import Fixes
from podtap.core.protocol import HttpFilter, IncomingMode
from tests.core.policy.helpers import policy

STEAL, MIRROR = IncomingMode.STEAL, IncomingMode.MIRROR
USER = HttpFilter(header="x-user: alice")
PATH = HttpFilter(path="^/api")
REQUIRED = {"network": {"incoming": {"httpFilter": {"headerFilter": "x-user: .+"}}}}


def _refusal(spec: dict[str, Any], mode: IncomingMode, flt: HttpFilter | None) -> str | None:
    return subscribe_refusal([policy(**spec)], mode=mode, http_filter=flt, target="deployment/api")


@pytest.mark.parametrize(
    ("spec", "mode", "flt", "refusal"),
    [
        ({}, STEAL, None, None),
        ({"block": ["steal"]}, STEAL, USER, "policy shop/p blocks steal on deployment/api: use"),
        ({"block": ["steal"]}, MIRROR, None, None),
        ({"block": ["mirror"]}, MIRROR, USER, "policy shop/p blocks mirror on deployment/api"),
        ({"block": ["mirror"]}, STEAL, USER, None),
        (
            {"block": ["steal-without-filter"]},
            STEAL,
            None,
            "policy shop/p blocks steal without an HTTP filter on deployment/api: set "
            "feature.network.incoming.http_filter",
        ),
        ({"block": ["steal-without-filter"]}, STEAL, HttpFilter(), "without an HTTP filter"),
        ({"block": ["steal-without-filter"]}, STEAL, PATH, None),
        ({"block": ["steal-without-filter"]}, MIRROR, None, None),
        ({"block": ["copy-target-scale-down"]}, STEAL, None, None),
    ],
)
def test_blocks(
    spec: dict[str, Any], mode: IncomingMode, flt: HttpFilter | None, refusal: str | None
) -> None:
    got = _refusal(spec, mode, flt)
    assert got == refusal if refusal is None else (got is not None and refusal in got)


@pytest.mark.parametrize(
    ("flt", "allowed"),
    [
        (None, False),  # the requirement implies steal-without-filter
        (USER, True),
        (HttpFilter(header="X-User: Alice"), True),  # header filters are case-insensitive
        (HttpFilter(header="x-user:"), False),
        (HttpFilter(header="x-team: a"), False),
        (HttpFilter(header="x-user: a|.*"), True),  # the pattern matches the whole text
        (HttpFilter(header="x-team: a|x-user: b"), False),
        (PATH, False),
        (HttpFilter(all_of=(PATH, USER)), True),  # all_of: one matching item is enough
        (HttpFilter(all_of=(PATH, HttpFilter(method="GET"))), False),
        (HttpFilter(any_of=(USER, HttpFilter(header="x-user: bob"))), True),
        (HttpFilter(any_of=(USER, HttpFilter(header="x-team: a"))), False),  # every header item
        (HttpFilter(any_of=(USER, PATH)), True),  # only its header items must match
        (HttpFilter(any_of=(PATH, HttpFilter(method="GET"))), False),  # at least one header item
        (HttpFilter(all_of=(PATH, HttpFilter(any_of=(USER,)))), True),
    ],
)
def test_required_header_filter(flt: HttpFilter | None, allowed: bool) -> None:
    got = _refusal(REQUIRED, STEAL, flt)
    assert (got is None) is allowed, got
    if got is not None and flt is not None:
        assert got == (
            "policy shop/p requires a steal on deployment/api to filter on a header matching "
            "'x-user: .+' (all_of: at least one item; any_of: every header item)"
        )


def test_a_mirror_needs_no_header_filter() -> None:
    assert _refusal(REQUIRED, MIRROR, None) is None


def test_several_policies_combine_their_blocks_and_patterns() -> None:
    team = policy("team", network={"incoming": {"httpFilter": {"headerFilter": "x-team: .+"}}})
    user = policy("user", None, **REQUIRED)
    both = [team, user]
    only_user = subscribe_refusal(both, mode=STEAL, http_filter=USER, target="t")
    assert only_user is not None and only_user.startswith("policy shop/team requires")
    only_team = subscribe_refusal(
        both, mode=STEAL, http_filter=HttpFilter(header="x-team: a"), target="t"
    )
    assert only_team is not None and only_team.startswith("cluster policy user requires")
    flt = HttpFilter(all_of=(USER, HttpFilter(header="x-team: a")))
    assert subscribe_refusal(both, mode=STEAL, http_filter=flt, target="t") is None


def test_a_profile_that_made_incoming_mirror_refuses_a_steal() -> None:
    fixes = Fixes(profile="profile mirror-only", incoming=ConfigMode.MIRROR)
    got = subscribe_refusal([], mode=STEAL, http_filter=USER, target="t", fixes=fixes)
    assert got == "profile mirror-only makes incoming mirror: steal is refused"
    assert subscribe_refusal([], mode=MIRROR, http_filter=None, target="t", fixes=fixes) is None
    off = Fixes(profile="profile quiet", incoming=ConfigMode.OFF)
    got = subscribe_refusal([], mode=MIRROR, http_filter=None, target="t", fixes=off)
    assert got == "profile quiet turns incoming traffic off: mirror is refused"
