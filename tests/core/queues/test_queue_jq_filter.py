"""``feature.split_queues[].jq_filter`` carried from the config file to the session's filter:
compiled at load (a bad program is one line naming its queue), refused for RabbitMQ as
mirrord refuses it, sent in the connect query only when set, and matched as mirrord says:
the program must output ``true`` (not any truthy value), and with a ``message_filter`` too
both must match."""

from __future__ import annotations

import json
import re
from typing import Any

import pytest

from podtap.core.config import ConfigError, validate_config
from podtap.core.config.queues import QueueSplitConfig, QueueType
from podtap.core.queues import Message, parse_split_config
from podtap.core.queues.plan import plan_split
from podtap.core.queues.wire import encode_split_request, parse_split_request

POD: dict[str, Any] = {"containers": [{"name": "app", "env": [{"name": "Q", "value": "orders"}]}]}
SPLIT: dict[str, Any] = {
    "targetRef": {"kind": "Deployment", "name": "consumer"},
    "queues": [{"id": "orders", "kind": "sqs", "appConfig": {"env": "Q"}}],
}
AMOUNT = ".Body | fromjson | .amount > 100"


def _entries(feature: Any) -> list[QueueSplitConfig]:
    config, warnings = validate_config({"feature": {"split_queues": feature}}, source="m.json")
    assert warnings == []  # jq_filter is acted on: no "not supported yet"
    return list(config.feature.split_queues)


def _sqs(body: str, **attributes: str) -> Message:
    attrs = {k: {"DataType": "String", "StringValue": v} for k, v in attributes.items()}
    document = {"Body": body, "MessageAttributes": attrs}
    return Message(attributes, body.encode(), document=document)


def test_the_config_keeps_jq_filter_in_both_forms() -> None:
    (by_map,) = _entries({"orders": {"queue_type": "SQS", "jq_filter": AMOUNT}})
    (by_list,) = _entries([{"queue_id": "orders", "queue_type": "Kafka", "jq_filter": ".key"}])
    assert by_map.jq_filter == AMOUNT and by_map.message_filter == {}
    assert by_list.jq_filter == ".key" and by_list.queue_type is QueueType.KAFKA
    (plain,) = _entries({"orders": {"message_filter": {"who": "^a$"}}})
    assert plain.jq_filter is None


@pytest.mark.parametrize(
    ("feature", "says"),
    [
        (
            {"orders": {"queue_type": "SQS", "jq_filter": ".a =="}},
            r"m\.json: feature\.split_queues\.orders\.jq_filter: jq program '\.a ==' does not "
            r"compile: syntax error.* \(queue 'orders'\)$",
        ),
        (
            [{"queue_id": "events", "queue_type": "Kafka", "jq_filter": "snow"}],
            r"feature\.split_queues\[0\]\.jq_filter: jq program 'snow' does not compile: "
            r"snow/0 is not defined.* \(queue 'events'\)$",
        ),
        (
            {"pay": {"queue_type": "RMQ", "jq_filter": ".a"}},
            r"feature\.split_queues\.pay: jq_filter: RMQ queues take message_filter only "
            r"\(queue 'pay'\)",
        ),
    ],
)
def test_a_jq_filter_that_cannot_be_used_is_one_config_error(feature: Any, says: str) -> None:
    with pytest.raises(ConfigError) as caught:
        validate_config({"feature": {"split_queues": feature}}, source="m.json")
    (line,) = str(caught.value).splitlines()[1:]
    assert re.search(says, line.strip()), line


def test_the_connect_query_carries_jq_filter_only_when_set() -> None:
    with_jq = QueueSplitConfig(queue_id="orders", jq_filter=AMOUNT)
    without = QueueSplitConfig(queue_id="audit", message_filter={"who": "^a$"})
    text = encode_split_request((with_jq, without))
    assert parse_split_request(text) == (with_jq, without)
    audit = next(i for i in json.loads(text) if i["queue_id"] == "audit")
    assert "jq_filter" not in audit  # what an operator before jq_filter reads unchanged
    with pytest.raises(ValueError, match=r"^split_queues\[0\]\.jq_filter: jq program"):
        parse_split_request('[{"queue_id": "orders", "jq_filter": ".a =="}]')


def test_a_session_with_only_a_jq_filter_gets_what_its_program_says_true_to() -> None:
    plan = plan_split(parse_split_config(SPLIT), POD)
    (entry,) = _entries({"orders": {"queue_type": "SQS", "jq_filter": AMOUNT}})
    only = plan.session_filters([entry])["orders"]
    assert only.matches(_sqs('{"amount": 150}'))
    assert not only.matches(_sqs('{"amount": 50}'))
    assert not only.matches(_sqs("not json"))  # a program that fails matches nothing
    (truthy,) = _entries({"orders": {"jq_filter": ".Body | fromjson | .amount"}})
    assert not plan.session_filters([truthy])["orders"].matches(_sqs('{"amount": 150}'))


def test_with_a_message_filter_too_both_must_match() -> None:
    plan = plan_split(parse_split_config(SPLIT), POD)
    (entry,) = _entries(
        {"orders": {"queue_type": "SQS", "jq_filter": AMOUNT, "message_filter": {"who": "^a"}}}
    )
    both = plan.session_filters([entry])["orders"]
    assert both.matches(_sqs('{"amount": 150}', who="alice"))
    assert not both.matches(_sqs('{"amount": 150}', who="bob"))
    assert not both.matches(_sqs('{"amount": 50}', who="alice"))
    assert not both.matches(_sqs('{"amount": 150}'))
