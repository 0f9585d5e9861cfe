"""A split config read against a pod template: the originals, the names, the env to set,
and a session's filters, with what does not fit refused in one line."""

from __future__ import annotations

from typing import Any

import pytest

from podtap.core.config.queues import QueueMode, QueueSplitConfig, QueueType
from podtap.core.ids import SessionId
from podtap.core.queues import (
    EnvPatchError,
    FilterError,
    Message,
    QueueNameError,
    SplitMachine,
    parse_split_config,
)
from podtap.core.queues import steps as s
from podtap.core.queues.plan import plan_split

ALICE = SessionId(0xA)
POD: dict[str, Any] = {
    "containers": [
        {
            "name": "app",
            "env": [
                {"name": "ORDERS_QUEUE", "value": "orders"},
                {"name": "EVENTS_TOPIC", "value": "events"},
                {"name": "AUDIT_TOPIC", "value": "audit"},
            ],
        }
    ]
}


def config(**changes: Any) -> Any:
    spec: dict[str, Any] = {
        "targetRef": {"kind": "Deployment", "name": "consumer"},
        "queues": [
            {"id": "orders", "kind": "sqs", "appConfig": {"env": "ORDERS_QUEUE"}},
            {"id": "events", "kind": "kafka", "appConfig": {"envLike": ".*_TOPIC"}},
        ],
        "tmpNameTemplate": "{{ID}}-{{ORIGINAL}}",
        "restart": {"timeout": 40},
        "ttl": 5,
    }
    return parse_split_config({**spec, **changes})


def entry(queue_id: str, queue_type: str = "SQS", **fields: Any) -> QueueSplitConfig:
    return QueueSplitConfig.model_validate(
        {"queue_id": queue_id, "queue_type": queue_type, **fields}
    )


def test_the_plan_drives_the_machine_and_names_the_env_to_set() -> None:
    plan = plan_split(config(), POD)
    assert plan.originals == ("orders", "audit", "events")
    assert (plan.limits.restart_timeout, plan.limits.ttl) == (40, 5)
    split = SplitMachine(originals=plan.originals, name=plan.name, limits=plan.limits)
    fallback = ("fallback-orders", "fallback-audit", "fallback-events")
    alice = ("000000000000000A-orders", "000000000000000A-audit", "000000000000000A-events")
    assert split.handle(s.SessionJoined(ALICE)) == [s.CreateQueues(fallback), s.CreateQueues(alice)]
    (patch, _) = split.handle(s.QueuesCreated(fallback + alice))
    assert isinstance(patch, s.PatchEnv)
    assert plan.env(patch.to) == {
        "app": {
            "ORDERS_QUEUE": "fallback-orders",
            "AUDIT_TOPIC": "fallback-audit",
            "EVENTS_TOPIC": "fallback-events",
        }
    }
    assert plan.original_env() == {
        "app": {"ORDERS_QUEUE": "orders", "AUDIT_TOPIC": "audit", "EVENTS_TOPIC": "events"}
    }


def test_a_sessions_entries_become_one_filter_per_original() -> None:
    plan = plan_split(config(), POD)
    filters = plan.session_filters(
        [
            entry("orders", message_filter={"tenant": "^alice$"}),
            entry("events", "Kafka", queue_mode="mirror", jq_filter='.headers.tenant == "alice"'),
        ],
    )
    assert set(filters) == {"orders", "audit", "events"}
    assert filters["orders"].matches(Message({"tenant": "alice"}))
    assert filters["audit"] is filters["events"] and filters["events"].mode is QueueMode.MIRROR
    assert filters["events"].matches(Message(document={"headers": {"tenant": "alice"}}))


def test_an_entry_for_a_queue_the_config_lacks_is_one_line() -> None:
    plan = plan_split(config(), POD)
    with pytest.raises(
        FilterError,
        match=r"^feature\.split_queues\.returns: deployment/consumer "
        r"has no queue 'returns' to split \(it has orders, events\)$",
    ):
        plan.session_filters([entry("returns")])
    with pytest.raises(
        FilterError,
        match=r"^feature\.split_queues\.orders\.queue_type: Kafka, "
        r"but deployment/consumer splits it as SQS$",
    ):
        plan.session_filters([entry("orders", "Kafka")])
    assert entry("orders").queue_type is QueueType.SQS


def test_a_queue_named_by_two_entries_is_refused() -> None:
    twice = config(
        queues=[
            {"id": "a", "kind": "kafka", "appConfig": {"env": "EVENTS_TOPIC"}},
            {"id": "b", "kind": "kafka", "appConfig": {"envLike": ".*_TOPIC"}},
        ]
    )
    with pytest.raises(
        EnvPatchError,
        match=r"^spec\.queues\[1\]\.appConfig: queue 'events' is "
        r"already split by spec\.queues\[0\]\.appConfig$",
    ):
        plan_split(twice, POD)


def test_a_template_the_broker_would_refuse_fails_before_anything_is_made() -> None:
    with pytest.raises(QueueNameError, match=r"gives 'fallback\.orders': SQS queue names"):
        plan_split(config(tmpNameTemplate="{{ID}}.{{ORIGINAL}}"), POD)
