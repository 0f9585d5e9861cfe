"""The split config reads mirrord's field names and says in one line which field is wrong."""

from __future__ import annotations

from typing import Any

import pytest

from podtap.core.queues import QueueKind, SplitConfigError, parse_split_config


def spec(**changes: Any) -> dict[str, Any]:
    base: dict[str, Any] = {
        "targetRef": {"apiVersion": "apps/v1", "kind": "Deployment", "name": "consumer"},
        "queues": [
            {
                "id": "orders",
                "kind": "sqs",
                "clientConfig": {"region": "us-east-1"},
                "queueConfig": {"visibilityTimeout": 30},
                "appConfig": {"env": "ORDERS_QUEUE", "containers": ["app"]},
            }
        ],
    }
    return {**base, **changes}


def test_a_full_config_reads_every_field() -> None:
    config = parse_split_config(
        spec(
            restart={"timeout": 60, "waitForPods": False},
            tmpNameTemplate="dev-{{ID}}-{{ORIGINAL}}",
            drainTimeout=45,
            ttl=120,
        )
    )
    (queue,) = config.queues
    assert config.target_ref.kind == "Deployment" and config.target_ref.name == "consumer"
    assert queue.kind is QueueKind.SQS and queue.app_config.env == "ORDERS_QUEUE"
    assert queue.app_config.containers == ("app",)
    assert queue.client_config == {"region": "us-east-1"}
    assert config.restart.timeout == 60 and config.restart.wait_for_pods is False
    assert (config.tmp_name_template, config.drain_timeout, config.ttl) == (
        "dev-{{ID}}-{{ORIGINAL}}",
        45,
        120,
    )
    assert config.queue("orders") is queue and config.queue("returns") is None


def test_defaults_wait_for_pods_and_tear_down_at_once() -> None:
    config = parse_split_config(spec())
    assert config.restart.wait_for_pods is True
    assert config.ttl == 0 and config.drain_timeout > 0
    assert "{{ID}}" in config.tmp_name_template


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ({"tmpNameTemplat": "x"}, r"^spec\.tmpNameTemplat: not a known field"),
        ({"ttl": -1}, r"^spec\.ttl: .*greater than or equal to 0"),
        ({"targetRef": {"kind": "Pod", "name": "x"}}, r"^spec\.targetRef: must be one of"),
        ({"queues": []}, r"^spec\.queues: "),
        (
            {"queues": [{"id": "o", "kind": "sns", "appConfig": {"env": "Q"}}]},
            r"^spec\.queues\[0\]\.kind: .*'sqs', 'rmq' or 'kafka'",
        ),
        (
            {"queues": [{"id": "o", "kind": "rmq", "appConfig": {}}]},
            r"^spec\.queues\[0\]\.appConfig: give exactly one of env or envLike",
        ),
        (
            {
                "queues": [
                    {"id": "o", "kind": "kafka", "appConfig": {"envLike": "Q.*", "fallback": "q"}}
                ]
            },
            r"^spec\.queues\[0\]\.appConfig: fallback needs env",
        ),
        (
            {"queues": [{"id": "o", "kind": "sqs", "appConfig": {"env": "Q"}}] * 2},
            r"^spec: queue id 'o' \(sqs\) appears twice",
        ),
        ({"restart": {"timeout": 0}}, r"^spec\.restart\.timeout: "),
    ],
)
def test_a_bad_field_is_one_line_naming_it(changes: dict[str, Any], message: str) -> None:
    with pytest.raises(SplitConfigError, match=message) as caught:
        parse_split_config(spec(**changes))
    assert "\n" not in str(caught.value)
