"""Session filters as mirrord defines them: every attribute regex must match, jq on the
JSON body through the real jq, and a filter that says nothing matches nothing."""

from __future__ import annotations

import pytest

from podtap.core.config.queues import QueueMode
from podtap.core.queues import FilterError, Message, QueueKind, compile_queue_filter
from podtap.core.queues.messages import kafka_message, rmq_message, sqs_message

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


def kafka(payload: bytes, **headers: str) -> Message:
    pairs = [(k, v.encode()) for k, v in headers.items()]
    return kafka_message(
        topic="orders",
        partition=0,
        offset=7,
        timestamp=None,
        key=None,
        value=payload,
        headers=pairs,
    )


def test_jq_runs_on_the_kafka_record_as_mirrord_represents_it() -> None:
    big = compile_queue_filter(
        queue_id="q",
        kind=KAFKA,
        jq_filter='.payload | fromjson | .total > 100 and .currency == "EUR"',
    )
    assert big.matches(kafka(b'{"total": 250, "currency": "EUR"}'))
    assert not big.matches(kafka(b'{"total": 250, "currency": "USD"}'))
    assert not big.matches(kafka(b"not json"))  # fromjson fails: no match
    by_header = compile_queue_filter(
        queue_id="q", kind=KAFKA, jq_filter='.headers.tenant == "alice"'
    )
    assert by_header.matches(kafka(b"", tenant="alice"))
    assert not by_header.matches(kafka(b"", tenant="bob"))


def test_jq_runs_on_the_sqs_message_object() -> None:
    message = sqs_message(
        {
            "MessageId": "m-1",
            "Body": '{"customer_email": "dev@metalbear.com"}',
            "MessageAttributes": {"tenant": {"DataType": "String", "StringValue": "alice"}},
        }
    )
    by_body = compile_queue_filter(
        queue_id="q",
        kind=SQS,
        jq_filter='.Body | fromjson | .customer_email | test("metalbear\\\\.com")',
    )
    by_attribute = compile_queue_filter(
        queue_id="q", kind=SQS, jq_filter='.MessageAttributes.tenant.StringValue == "bob"'
    )
    assert by_body.matches(message)
    assert not by_attribute.matches(message)
    assert message.attributes == {"tenant": "alice"}


def test_jq_matches_only_on_true() -> None:
    number = compile_queue_filter(queue_id="q", kind=SQS, jq_filter=".total")
    assert not number.matches(Message(document={"total": 1}))
    failing = compile_queue_filter(queue_id="q", kind=SQS, jq_filter=".total | ascii_downcase")
    assert not failing.matches(Message(document={"total": 1}))  # jq's runtime error: no match
    assert not compile_queue_filter(queue_id="q", kind=SQS, jq_filter="true").matches(Message())


def test_jq_and_attributes_must_both_match() -> None:
    both = compile_queue_filter(
        queue_id="q", kind=SQS, message_filter={"tenant": "alice"}, jq_filter=".vip"
    )
    assert both.matches(Message({"tenant": "alice"}, document={"vip": True}))
    assert not both.matches(Message({"tenant": "bob"}, document={"vip": True}))
    assert not both.matches(Message({"tenant": "alice"}, document={"vip": False}))


def test_kafka_bytes_that_are_not_utf8_are_base64() -> None:
    record = kafka_message(
        topic="t",
        partition=1,
        offset=2,
        timestamp=99,
        key=b"\xff",
        value=b"ok",
        headers=[("h", b"\xfe")],
    )
    assert record.document == {
        "topic": "t",
        "partition": 1,
        "offset": 2,
        "timestamp": 99,
        "key": "/w==",
        "payload": "ok",
        "headers": {"h": "/g=="},
    }


def test_rabbitmq_headers_are_read_as_text() -> None:
    message = rmq_message({"tenant": b"alice", "retries": 3}, b"{}")
    assert message.attributes == {"tenant": "alice", "retries": "3"}
    assert message.document is None


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
