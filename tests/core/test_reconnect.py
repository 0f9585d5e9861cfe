"""The reconnect policy of a client whose link to the operator dropped (core/reconnect.py)."""

from __future__ import annotations

from podtap.core.ids import StreamId
from podtap.core.reconnect import Backoff, GiveUp, LinkIds, Outage, Retry, client_ttl


def outage() -> Outage:
    return Outage(label="00000000000000AB", cause="the connection closed", lost_at=100.0, ttl=6.0)


def test_the_first_attempt_is_at_once_then_the_pauses_double_up_to_the_cap() -> None:
    backoff = Backoff(first=0.1, factor=2, cap=1.0, spread=0.2)
    assert [backoff.pause(n, chance=0) for n in range(1, 7)] == [0, 0.1, 0.2, 0.4, 0.8, 1.0]
    assert backoff.pause(9, chance=0.5) == 0.9  # jittered down, never up


def test_a_line_for_attempts_1_2_4_8_and_the_ttl_left_in_it() -> None:
    drop = outage()
    verdicts = [drop.next(now=100.0 + n * 0.5) for n in range(9)]
    assert all(isinstance(v, Retry) for v in verdicts)
    told = [v.attempt for v in verdicts if isinstance(v, Retry) and v.tell]
    assert told == [1, 2, 4, 8]
    first = verdicts[0]
    assert isinstance(first, Retry) and first.tell == (
        "lost the operator (the connection closed); reconnecting "
        "(attempt 1, session 00000000000000AB kept for up to 6 s)"
    )


def test_no_pause_goes_past_the_deadline_and_past_it_the_session_is_gone() -> None:
    drop = outage()
    late = drop.next(now=105.95, error="cannot reach the operator")
    assert isinstance(late, Retry) and late.pause <= 0.05 + 1e-9
    gone = drop.next(now=106.0)
    assert isinstance(gone, GiveUp)
    assert "session 00000000000000AB is gone" in gone.reason and "6 s" in gone.reason
    assert "last try: cannot reach the operator" in gone.reason


def test_410_and_final_refusals_give_up_at_once_the_rest_are_tried_again() -> None:
    gone = outage().refused(410, "session 00000000000000AB is gone", now=101.0)
    assert isinstance(gone, GiveUp) and "410" in gone.reason
    assert isinstance(outage().refused(403, "belongs to bob", now=101.0), GiveUp)
    busy = outage()
    assert isinstance(busy.refused(409, "already has a client", now=101.0), Retry)
    over = busy.next(now=107.0)
    assert isinstance(over, GiveUp) and "409: already has a client" in over.reason


def test_the_ttl_is_what_the_operator_announced_else_its_variable_else_its_default() -> None:
    assert client_ttl({"PODTAP_UNUSED_TTL": "12"}, announced=45) == 45
    assert client_ttl({}, announced=2) == 6  # never below the operator's minimum
    assert client_ttl({"PODTAP_UNUSED_TTL": "12"}, announced=None) == 12
    assert client_ttl({"PODTAP_UNUSED_TTL": "12"}) == 12
    assert client_ttl({"PODTAP_UNUSED_TTL": "1"}) == 6
    assert client_ttl({"PODTAP_UNUSED_TTL": "soon"}) == client_ttl({}) == 30


def test_a_resumed_links_agent_ids_are_apart_and_an_old_streams_go_nowhere() -> None:
    ids = LinkIds()
    assert ids.local(StreamId(2)) == 2 and ids.wire(StreamId(2)) == 2
    ids.generation = 1
    new = ids.local(StreamId(2))
    assert new != 2 and ids.wire(new) == 2
    assert ids.wire(StreamId(2)) is None  # stream 2 of the first link
    assert ids.local(StreamId(7)) == ids.wire(StreamId(7)) == 7  # the client's own ids
