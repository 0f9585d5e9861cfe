"""Session filters as mirrord defines them: every attribute regex must match, jq on the
JSON body through the real jq, and a filter that says nothing matches nothing."""

from __future__ import annotations

import pytest

from podtap.core.config.queues import QueueMode
from podtap.core.queues import FilterError, Message, QueueKind, compile_queue_filter

SQS, RMQ, KAFKA = QueueKind.SQS, QueueKind.RMQ, QueueKind.KAFKA


def test_every_attribute_regex_must_match() -> None:
    mine = compile_queue_filter(
        queue_id="orders", kind=SQS, message_filter={"tenant": "^alice$", "kind": "refund|return"}
    )
    assert mine.matches(Message({"tenant": "alice", "kind": "refund", "x": "y"}))
    assert not mine.matches(Message({"tenant": "alice", "kind": "order"}))
    assert not mine.matches(Message({"tenant": "alice"}))  # a missing attribute: no match
    assert not mine.matches(Message({"tenant": "alice-2", "kind": "refund"}))


def test_a_regex_is_searched_not_anchored() -> None:
    mine = compile_queue_filter(queue_id="q", kind=RMQ, message_filter={"user": "bob"})
    assert mine.matches(Message({"user": "x-bob-y"}))


def test_an_empty_filter_matches_nothing() -> None:
    nothing = compile_queue_filter(queue_id="q", kind=SQS, message_filter={})
    assert not nothing.matches(Message({"tenant": "alice"}, b"{}"))


def test_jq_runs_on_the_json_body() -> None:
    big = compile_queue_filter(
        queue_id="q", kind=KAFKA, jq_filter='.total > 100 and .currency == "EUR"'
    )
    assert big.matches(Message({}, b'{"total": 250, "currency": "EUR"}'))
    assert not big.matches(Message({}, b'{"total": 250, "currency": "USD"}'))
    assert not big.matches(Message({}, b"not json"))


def test_jq_matches_only_on_true() -> None:
    number = compile_queue_filter(queue_id="q", kind=SQS, jq_filter=".total")
    assert not number.matches(Message({}, b'{"total": 1}'))
    failing = compile_queue_filter(queue_id="q", kind=SQS, jq_filter=".total | ascii_downcase")
    assert not failing.matches(Message({}, b'{"total": 1}'))  # jq's runtime error: no match


def test_jq_and_attributes_must_both_match() -> None:
    both = compile_queue_filter(
        queue_id="q", kind=SQS, message_filter={"tenant": "alice"}, jq_filter=".vip"
    )
    assert both.matches(Message({"tenant": "alice"}, b'{"vip": true}'))
    assert not both.matches(Message({"tenant": "bob"}, b'{"vip": true}'))
    assert not both.matches(Message({"tenant": "alice"}, b'{"vip": false}'))


def test_the_mode_is_kept() -> None:
    assert (
        compile_queue_filter(queue_id="q", kind=SQS, message_filter={"a": "b"}).mode
        is QueueMode.STEAL
    )
    mirror = compile_queue_filter(
        queue_id="q", kind=SQS, message_filter={"a": "b"}, mode=QueueMode.MIRROR
    )
    assert mirror.mode is QueueMode.MIRROR


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        (
            {"kind": SQS, "jq_filter": ".total >"},
            r"^feature\.split_queues\.orders\.jq_filter: jq program '\.total >' does not compile: "
            r"syntax error",
        ),
        (
            {"kind": SQS, "message_filter": {"tenant": "(?=alice)"}},
            r"^feature\.split_queues\.orders\.message_filter\.tenant: lookahead",
        ),
        (
            {"kind": RMQ, "jq_filter": ".a"},
            r"^feature\.split_queues\.orders\.jq_filter: RabbitMQ queues take message_filter only",
        ),
    ],
)
def test_a_filter_that_does_not_compile_is_one_clear_line(
    kwargs: dict[str, object], message: str
) -> None:
    with pytest.raises(FilterError, match=message) as caught:
        compile_queue_filter(queue_id="orders", **kwargs)  # type: ignore[arg-type]
    assert "\n" not in str(caught.value)
