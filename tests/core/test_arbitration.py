from __future__ import annotations

import math
import random

import pytest
from hypothesis import given
from hypothesis import strategies as st

from podtap.core.arbitration import (
    DEFAULT_ON_CONCURRENT_STEAL,
    Allow,
    ContinueWithout,
    Decision,
    OnConcurrentSteal,
    Override,
    PortSubscription,
    Refuse,
    abort_message,
    conflicting_holders,
    decide,
    eviction_notice,
    format_age,
    route_owner,
    start_refusal,
)
from podtap.core.ids import Port, SessionId, format_session_id
from podtap.core.protocol import HttpFilter, IncomingMode

NOW = 1_700_000_000.0
ALICE, BOB, CAROL = SessionId(0x0123456789ABCDEF), SessionId(0xB0B), SessionId(0xCA201)
USERS = {ALICE: "alice/alice@laptop", BOB: "bob/bob@desk", CAROL: "carol/carol@ci"}
STEAL, MIRROR = IncomingMode.STEAL, IncomingMode.MIRROR
ABORT, CONTINUE, OVERRIDE = (
    OnConcurrentSteal.ABORT,
    OnConcurrentSteal.CONTINUE,
    OnConcurrentSteal.OVERRIDE,
)


def sub(
    session: SessionId,
    mode: IncomingMode = STEAL,
    header: str | None = None,
    *,
    age: float = 303,
    port: int = 80,
) -> PortSubscription:
    return PortSubscription(
        session=session,
        user=USERS.get(session, f"user{session}/u@h"),
        since=NOW - age,
        port=Port(port),
        mode=mode,
        http_filter=None if header is None else HttpFilter(header=header),
    )


def run(
    existing: list[PortSubscription], request: PortSubscription, mode: OnConcurrentSteal
) -> Decision:
    return decide(existing, request, on_concurrent_steal=mode, now=NOW)


def test_defaults() -> None:
    assert DEFAULT_ON_CONCURRENT_STEAL is OnConcurrentSteal.ABORT
    assert [m.value for m in OnConcurrentSteal] == ["abort", "continue", "override"]
    assert sub(ALICE) == PortSubscription(
        session=ALICE, user=USERS[ALICE], since=NOW - 303, mode=STEAL, port=Port(80)
    )
    assert PortSubscription(session=ALICE, user="a", since=0, mode=MIRROR).port is None


A_FILTER, B_FILTER, C_FILTER = "x-user: alice", "x-user: bob", "x-user: carol"
SCENARIOS: list[tuple[str, list[PortSubscription], PortSubscription, tuple[SessionId, ...]]] = [
    ("empty port", [], sub(BOB), ()),
    ("mirror on empty port", [], sub(BOB, MIRROR), ()),
    ("mirror next to a whole steal", [sub(ALICE)], sub(BOB, MIRROR), ()),
    ("mirror next to filtered steal", [sub(ALICE, header=A_FILTER)], sub(BOB, MIRROR), ()),
    ("steal next to mirrors", [sub(ALICE, MIRROR), sub(CAROL, MIRROR)], sub(BOB), ()),
    ("whole steal vs whole steal", [sub(ALICE)], sub(BOB), (ALICE,)),
    ("filtered steal vs whole steal", [sub(ALICE)], sub(BOB, header=B_FILTER), (ALICE,)),
    ("whole steal vs filtered steal", [sub(ALICE, header=A_FILTER)], sub(BOB), (ALICE,)),
    (
        "whole steal vs several filtered",
        [sub(ALICE, header=A_FILTER), sub(CAROL, header=C_FILTER, age=12)],
        sub(BOB),
        (ALICE, CAROL),
    ),
    ("disjoint filters", [sub(ALICE, header=A_FILTER)], sub(BOB, header=B_FILTER), ()),
    ("identical filters", [sub(ALICE, header=A_FILTER)], sub(BOB, header=A_FILTER), (ALICE,)),
    (
        "normalised identical",
        [sub(ALICE, header=A_FILTER)],
        sub(BOB, header=" X-User:ALICE"),
        (ALICE,),
    ),
    (
        "only the overlapping holder",
        [sub(ALICE, header=A_FILTER), sub(CAROL, header=".*", age=5)],
        sub(BOB, header=B_FILTER),
        (CAROL,),
    ),
    ("other port ignored", [sub(ALICE, port=81)], sub(BOB), ()),
    ("own whole steal replaced", [sub(ALICE)], sub(ALICE, header=A_FILTER), ()),
    ("own filter replaced", [sub(ALICE, header=A_FILTER)], sub(ALICE, header=A_FILTER), ()),
    (
        "own replaced, other still conflicts",
        [sub(ALICE, header=A_FILTER), sub(BOB, header=B_FILTER)],
        sub(ALICE, header=B_FILTER),
        (BOB,),
    ),
    ("own steal, then mirror", [sub(ALICE)], sub(ALICE, MIRROR), ()),
]


@pytest.mark.parametrize("policy", list(OnConcurrentSteal))
@pytest.mark.parametrize(
    ("existing", "request_", "conflicts"), [s[1:] for s in SCENARIOS], ids=[s[0] for s in SCENARIOS]
)
def test_scenarios(
    existing: list[PortSubscription],
    request_: PortSubscription,
    conflicts: tuple[SessionId, ...],
    policy: OnConcurrentSteal,
) -> None:
    for order in (existing, existing[::-1]):
        decision = run(order, request_, policy)
        if not conflicts:
            assert decision == Allow()
            continue
        expected = {ABORT: Refuse, CONTINUE: ContinueWithout, OVERRIDE: Override}[policy]
        assert type(decision) is expected
        assert not isinstance(decision, Allow)
        named = decision.evict if isinstance(decision, Override) else decision.holders
        assert tuple(h.session for h in named) == conflicts
        for held in named:
            assert held.user in decision.message
            assert format_session_id(held.session) in decision.message


def test_refuse_message_filtered_holder() -> None:
    decision = run([sub(ALICE, header=A_FILTER)], sub(BOB, header=A_FILTER), ABORT)
    assert decision == Refuse(
        "port 80 is stolen by alice/alice@laptop (session 0123456789ABCDEF, since 5m03s) "
        "with filter header=~'x-user: alice'; use a different filter, "
        "or on_concurrent_steal=override",
        (sub(ALICE, header=A_FILTER),),
    )


def test_refuse_message_whole_holder() -> None:
    decision = run([sub(ALICE, age=3723)], sub(BOB, header=B_FILTER), ABORT)
    assert isinstance(decision, Refuse)
    assert decision.message == (
        "port 80 is stolen by alice/alice@laptop (session 0123456789ABCDEF, since 1h02m03s) "
        "without a filter; use mode mirror, or on_concurrent_steal=override"
    )


def test_refuse_message_names_every_holder_oldest_first() -> None:
    holders = [sub(CAROL, header=C_FILTER, age=12), sub(ALICE, header=A_FILTER)]
    decision = run(holders, sub(BOB), ABORT)
    assert isinstance(decision, Refuse)
    assert decision.holders == (holders[1], holders[0])
    assert decision.message == (
        "port 80 is stolen by alice/alice@laptop (session 0123456789ABCDEF, since 5m03s) "
        "with filter header=~'x-user: alice', and by carol/carol@ci (session 00000000000CA201, "
        "since 12s) with filter header=~'x-user: carol'; steal with a filter that does not "
        "overlap theirs, or on_concurrent_steal=override"
    )


def test_continue_message() -> None:
    decision = run([sub(ALICE, age=192)], sub(BOB), CONTINUE)
    assert decision == ContinueWithout(
        "port 80 is stolen by alice/alice@laptop (session 0123456789ABCDEF, since 3m12s) "
        "without a filter; continuing without port 80 (on_concurrent_steal=continue)",
        (sub(ALICE, age=192),),
    )


def test_override_message_and_notice() -> None:
    request = sub(BOB, header=A_FILTER)
    decision = run([sub(ALICE, header=A_FILTER), sub(CAROL, header=C_FILTER)], request, OVERRIDE)
    assert decision == Override(
        (sub(ALICE, header=A_FILTER),),
        "taking over port 80 from alice/alice@laptop (session 0123456789ABCDEF, since 5m03s) "
        "with filter header=~'x-user: alice' (on_concurrent_steal=override)",
    )
    assert eviction_notice(request) == (
        "port 80 was taken over by bob/bob@desk (session 0000000000000B0B) "
        "with filter header=~'x-user: alice' (on_concurrent_steal=override)"
    )
    assert "without a filter" in eviction_notice(sub(BOB))


def test_unknown_port_is_the_port() -> None:
    anywhere = PortSubscription(session=ALICE, user=USERS[ALICE], since=NOW - 5, mode=STEAL)
    decision = run([anywhere, sub(CAROL, port=81)], sub(BOB), CONTINUE)
    assert decision == ContinueWithout(
        "port 80 is stolen by alice/alice@laptop (session 0123456789ABCDEF, since 5s) without "
        "a filter; continuing without port 80 (on_concurrent_steal=continue)",
        (anywhere,),
    )
    unknown = PortSubscription(session=BOB, user=USERS[BOB], since=NOW, mode=STEAL)
    decision = run([anywhere, sub(CAROL, port=81)], unknown, ABORT)
    assert isinstance(decision, Refuse)
    assert decision.holders == (sub(CAROL, port=81), anywhere)  # caller said: one port
    assert decision.message.startswith("the port is stolen by carol/carol@ci (session ")
    assert eviction_notice(unknown).startswith("the port was taken over by bob/bob@desk")


def test_policy_given_as_plain_string() -> None:
    decision = decide([sub(ALICE)], sub(BOB), on_concurrent_steal="continue", now=NOW)  # type: ignore[arg-type]
    assert isinstance(decision, ContinueWithout)


@pytest.mark.parametrize(
    ("seconds", "text"),
    [
        (0, "0s"),
        (-5, "0s"),
        (math.nan, "0s"),
        (math.inf, "0s"),
        (59.99, "59s"),
        (60, "1m00s"),
        (192, "3m12s"),
        (303, "5m03s"),
        (3600, "1h00m00s"),
        (7503, "2h05m03s"),
        (86400 + 4 * 3600 + 5 * 60 + 7, "1d04h05m"),
    ],
)
def test_format_age(seconds: float, text: str) -> None:
    assert format_age(seconds) == text


def test_future_since_is_zero_age() -> None:
    decision = run([sub(ALICE, age=-30)], sub(BOB), ABORT)
    assert isinstance(decision, Refuse)
    assert "since 0s" in decision.message


def test_route_owner_earliest_wins() -> None:
    subs = [
        sub(CAROL, header=C_FILTER, age=10),
        sub(ALICE, header=A_FILTER, age=100),
        sub(BOB, header=B_FILTER, age=50),
        sub(SessionId(7), MIRROR, age=1000),
    ]
    routed = route_owner(subs, {ALICE, BOB, CAROL, SessionId(7)})
    assert routed is not None
    assert routed.owner == subs[1]
    assert routed.warn == (subs[2], subs[0])
    assert routed.message == (
        "a request on port 80 matched the filters of several sessions; it went to "
        "alice/alice@laptop (session 0123456789ABCDEF), the earliest subscriber"
    )
    only = route_owner(subs, [CAROL])
    assert only is not None and only.owner == subs[0] and only.warn == ()
    assert route_owner(subs, set()) is None
    assert route_owner(subs, {SessionId(7)}) is None  # mirrors never own a request


def test_route_owner_ties_by_session_id() -> None:
    subs = [sub(CAROL, age=5), sub(BOB, age=5), sub(ALICE, age=5)]
    routed = route_owner(subs[::-1], {ALICE, BOB, CAROL})
    assert routed is not None
    assert routed.owner.session == BOB  # 0xB0B < 0xCA201 < 0x0123456789ABCDEF
    assert [w.session for w in routed.warn] == [CAROL, ALICE]


# -- properties ---------------------------------------------------------------------------

SESSIONS = [ALICE, BOB, CAROL, SessionId(4)]
FILTERS: list[HttpFilter | None] = [
    None,
    HttpFilter(header=A_FILTER),
    HttpFilter(header=B_FILTER),
    HttpFilter(header="^x-user: alice$"),
    HttpFilter(header=".*"),
    HttpFilter(method="GET"),
    HttpFilter(path="^/api", header=A_FILTER),
    HttpFilter(any_of=(HttpFilter(header=B_FILTER), HttpFilter(path="^/web"))),
]
subscriptions = st.builds(
    PortSubscription,
    session=st.sampled_from(SESSIONS),
    user=st.sampled_from(["alice/a@l", "bob/b@d"]),
    since=st.integers(int(NOW) - 10_000, int(NOW) + 5).map(float),
    port=st.sampled_from([Port(80), Port(81), None]),
    mode=st.sampled_from(list(IncomingMode)),
    http_filter=st.sampled_from(FILTERS),
)
steals = subscriptions.map(
    lambda s: PortSubscription(
        session=s.session,
        user=s.user,
        since=s.since,
        port=Port(80),
        mode=STEAL,
        http_filter=s.http_filter,
    )
)
policies = st.sampled_from(list(OnConcurrentSteal))


@given(st.lists(subscriptions, max_size=6), subscriptions, policies, st.randoms())
def test_order_of_existing_does_not_matter(
    existing: list[PortSubscription],
    request_: PortSubscription,
    policy: OnConcurrentSteal,
    rng: random.Random,
) -> None:
    shuffled = list(existing)
    rng.shuffle(shuffled)
    assert run(existing, request_, policy) == run(shuffled, request_, policy)


@given(st.lists(subscriptions, max_size=6), subscriptions, policies)
def test_mirror_is_always_allowed(
    existing: list[PortSubscription], request_: PortSubscription, policy: OnConcurrentSteal
) -> None:
    mirror = PortSubscription(
        session=request_.session,
        user=request_.user,
        since=request_.since,
        port=request_.port,
        mode=MIRROR,
        http_filter=request_.http_filter,
    )
    assert run(existing, mirror, policy) == Allow()


@given(st.lists(subscriptions, max_size=6), steals, st.lists(steals, min_size=1, max_size=4))
def test_whole_steal_excludes_every_other_steal(
    existing: list[PortSubscription], whole: PortSubscription, later: list[PortSubscription]
) -> None:
    whole = PortSubscription(
        session=whole.session, user=whole.user, since=NOW, port=whole.port, mode=STEAL
    )
    if run(existing, whole, ABORT) != Allow():
        return
    state = [s for s in existing if s.session != whole.session] + [whole]
    for other in later:
        decision = run(state, other, ABORT)
        if other.session == whole.session:
            continue
        assert isinstance(decision, Refuse)
        assert whole in decision.holders


@given(st.lists(subscriptions, max_size=6), subscriptions)
def test_outcomes_name_the_same_holders(
    existing: list[PortSubscription], request_: PortSubscription
) -> None:
    refused, kept, overridden = (run(existing, request_, p) for p in (ABORT, CONTINUE, OVERRIDE))
    holders = conflicting_holders(existing, request_)
    if not holders:
        assert refused == kept == overridden == Allow()
        return
    assert isinstance(refused, Refuse) and isinstance(kept, ContinueWithout)
    assert isinstance(overridden, Override)
    assert refused.holders == kept.holders == overridden.evict == holders
    for held in holders:
        assert held.session != request_.session
        assert held.mode == STEAL
        assert None in (held.port, request_.port) or held.port == request_.port
        for message in (refused.message, kept.message, overridden.message):
            assert f"{held.user} (session {format_session_id(held.session)}, since " in message
            assert f"since {format_age(NOW - held.since)})" in message


@given(st.lists(subscriptions, max_size=6), subscriptions)
def test_own_subscriptions_never_conflict(
    existing: list[PortSubscription], request_: PortSubscription
) -> None:
    others = [s for s in existing if s.session != request_.session]
    for policy in OnConcurrentSteal:
        assert run(existing, request_, policy) == run(others, request_, policy)


def test_start_refusal_names_every_conflicting_port_with_abort_only() -> None:
    held = [sub(ALICE, age=65), sub(CAROL, header="x-user: carol", port=81, age=5)]
    wanted = [sub(BOB, age=0), sub(BOB, header="x-user: .*", port=81, age=0), sub(BOB, port=82)]
    refusal = start_refusal(held, wanted, on_concurrent_steal=ABORT, now=NOW)
    assert refusal is not None
    assert [h.session for h in refusal.holders] == [ALICE, CAROL]
    text = refusal.message
    assert text.startswith("aborted (on_concurrent_steal=abort): port 80 is stolen by ")
    assert "alice/alice@laptop (session 0123456789ABCDEF, since 1m05s)" in text
    assert "; and port 81 is stolen by carol/carol@ci (session 00000000000CA201, since 5s)" in text
    assert "port 82" not in text
    for mode in (CONTINUE, OVERRIDE):
        assert start_refusal(held, wanted, on_concurrent_steal=mode, now=NOW) is None


def test_start_refusal_lets_a_session_start_when_nothing_it_steals_is_held() -> None:
    held = [sub(ALICE, port=81), sub(CAROL, MIRROR), sub(BOB, port=80)]
    assert start_refusal(held, [sub(BOB)], on_concurrent_steal=ABORT, now=NOW) is None
    assert start_refusal(held, [], on_concurrent_steal=ABORT, now=NOW) is None
    assert abort_message("why") == "aborted (on_concurrent_steal=abort): why"
