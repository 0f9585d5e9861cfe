"""Where one message goes: one stealing match chosen by the shell's random pick, else the
fallback; mirroring sessions get copies and take nothing."""

from __future__ import annotations

import pytest

from podtap.core.config.queues import QueueMode
from podtap.core.ids import SessionId
from podtap.core.queues import Message, QueueKind, Route, Routing, compile_queue_filter, route

ALICE, BOB, CAROL = SessionId(0xA), SessionId(0xB), SessionId(0xC)


def wants(session: SessionId, tenant: str, mode: QueueMode = QueueMode.STEAL) -> Route:
    filter_ = compile_queue_filter(
        queue_id="orders", kind=QueueKind.SQS, message_filter={"tenant": tenant}, mode=mode
    )
    return Route(session, filter_)


def never(n: int) -> int:
    raise AssertionError(f"pick({n}) called with one match or none")


ROUTES = [wants(ALICE, "^alice$"), wants(BOB, "^(alice|bob)$"), wants(CAROL, ".", QueueMode.MIRROR)]


def test_a_message_no_one_wants_goes_to_the_fallback() -> None:
    assert route(Message({"x": "1"}), ROUTES, pick=never) == Routing(None)
    assert route(Message({"x": "1"}), ROUTES, pick=never).to_fallback


def test_the_only_stealing_match_takes_it_and_the_mirror_gets_a_copy() -> None:
    assert route(Message({"tenant": "bob"}), ROUTES, pick=never) == Routing(BOB, (CAROL,))


def test_several_stealing_matches_are_chosen_by_pick() -> None:
    message = Message({"tenant": "alice"})
    assert route(message, ROUTES, pick=lambda n: 0) == Routing(ALICE, (CAROL,))
    assert route(message, ROUTES, pick=lambda n: n - 1) == Routing(BOB, (CAROL,))


def test_a_mirror_match_alone_still_sends_the_message_to_the_fallback() -> None:
    only_mirror = [wants(CAROL, "alice", QueueMode.MIRROR)]
    assert route(Message({"tenant": "alice"}), only_mirror, pick=never) == Routing(None, (CAROL,))


def test_no_sessions_means_the_fallback() -> None:
    assert route(Message({"tenant": "alice"}), [], pick=never) == Routing(None)


def test_a_pick_out_of_range_is_refused() -> None:
    with pytest.raises(ValueError, match=r"pick\(2\) returned 2"):
        route(Message({"tenant": "alice"}), ROUTES, pick=lambda n: n)
