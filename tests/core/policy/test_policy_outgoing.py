"""Outgoing rules: no rules allow; a non-empty allow list denies what it misses; a block
match denies; ipBlock with except, hostname regexes on the resolved name, ports."""

from __future__ import annotations

from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from podtap.core.config import IncomingMode as ConfigMode
from podtap.core.policy.models import OutgoingRule
from podtap.core.policy.outgoing import Connection, dns_refusal, outgoing_refusal, rule_matches
from podtap.core.policy.profiles import Fixes
from podtap.core.protocol import TransportProtocol
from tests.core.policy.helpers import policy

TCP, UDP = TransportProtocol.TCP, TransportProtocol.UDP
DB = Connection(
    protocol=TCP, address="10.96.40.7", port=5432, hostname="payments-db.shop.svc.cluster.local"
)
WEB = Connection(protocol=TCP, address="10.96.41.9", port=80, hostname="web")
DNS = Connection(protocol=UDP, address="10.96.0.10", port=53)


def _rule(**spec: Any) -> OutgoingRule:
    return OutgoingRule.model_validate(spec)


@pytest.mark.parametrize(
    ("rule", "conn", "matches"),
    [
        ({}, DB, True),
        ({"ipBlock": {"cidr": "10.96.40.0/24"}}, DB, True),
        ({"ipBlock": {"cidr": "10.96.40.0/24", "except": ["10.96.40.0/29"]}}, DB, False),
        ({"ipBlock": {"cidr": "10.96.40.0/24"}}, WEB, False),
        ({"ipBlock": {"cidr": "::/0"}}, DB, False),  # another family never matches
        ({"hostname": "payments-db.*"}, DB, True),
        ({"hostname": "PAYMENTS-DB\\..*"}, DB, True),  # names are case-insensitive
        ({"hostname": "payments-db"}, DB, False),  # the whole name must match
        ({"hostname": ".*"}, DNS, False),  # no resolved name: a hostname rule cannot match
        ({"ports": [{"protocol": "TCP", "port": 5432}]}, DB, True),
        ({"ports": [{"protocol": "UDP", "port": 5432}]}, DB, False),
        ({"ports": [{"protocol": "UDP", "port": 53}]}, DNS, True),
        ({"hostname": "payments-db.*", "ports": [{"protocol": "TCP", "port": 80}]}, DB, False),
    ],
)
def test_a_rule_matches_when_every_part_it_gives_does(
    rule: dict[str, Any], conn: Connection, matches: bool
) -> None:
    assert rule_matches(_rule(**rule), conn) is matches


def _out(**outgoing: Any) -> Any:
    return policy("net", network={"outgoing": outgoing})


def test_no_rules_allow_everything() -> None:
    assert outgoing_refusal([_out()], DB) is None


def test_an_allow_list_denies_what_it_does_not_list() -> None:
    p = _out(allow=[{"hostname": "web"}])
    assert outgoing_refusal([p], WEB) is None
    assert outgoing_refusal([p], DB) == (
        "policy shop/net allows no outgoing tcp payments-db.shop.svc.cluster.local "
        "10.96.40.7:5432: it is not in network.outgoing.allow"
    )


def test_a_block_match_denies_even_when_allowed() -> None:
    p = _out(allow=[{}], block=[{"ipBlock": {"cidr": "10.96.40.0/24"}}])
    assert outgoing_refusal([p], DB) == (
        "policy shop/net blocks outgoing tcp payments-db.shop.svc.cluster.local 10.96.40.7:5432 "
        "(network.outgoing.block[0])"
    )
    assert outgoing_refusal([p], WEB) is None


def test_any_policy_denying_refuses() -> None:
    open_, closed = (
        _out(),
        policy("c", None, network={"outgoing": {"block": [{"hostname": "web"}]}}),
    )
    assert (
        outgoing_refusal([open_, closed], WEB)
        == "cluster policy c blocks outgoing tcp web 10.96.41.9:80 (network.outgoing.block[0])"
    )


def test_a_profile_that_turned_outgoing_off_refuses() -> None:
    fixes = Fixes(profile="profile shop/readonly", outgoing=False, incoming=ConfigMode.MIRROR)
    assert (
        outgoing_refusal([], DNS, fixes=fixes)
        == "profile shop/readonly turns outgoing traffic off: udp 10.96.0.10:53 is refused"
    )


_RULES = st.lists(
    st.sampled_from(
        [
            {},
            {"hostname": "web"},
            {"ipBlock": {"cidr": "10.96.40.0/24"}},
            {"ports": [{"protocol": "UDP", "port": 53}]},
        ]
    ),
    max_size=3,
)


@given(allow=_RULES, block=_RULES, conn=st.sampled_from([DB, WEB, DNS]))
def test_the_rule_order(
    allow: list[dict[str, Any]], block: list[dict[str, Any]], conn: Connection
) -> None:
    allowed = not allow or any(rule_matches(_rule(**r), conn) for r in allow)
    blocked = any(rule_matches(_rule(**r), conn) for r in block)
    assert (outgoing_refusal([_out(allow=allow, block=block)], conn) is None) is (
        allowed and not blocked
    )


def test_a_profile_that_turned_dns_off_refuses_resolving_through_the_pod() -> None:
    off = Fixes(profile="profile local-dns", dns=False)
    assert dns_refusal("db.shop", fixes=off) == (
        "profile local-dns turns remote DNS off: db.shop is not resolved in the cluster"
    )
    assert dns_refusal("db.shop", fixes=Fixes(profile="profile p", dns=True)) is None
    assert dns_refusal("db.shop", fixes=None) is None
