"""Which env vars of which containers name the queue, read against a pod spec, and the
value each gets; what the pod does not have is one clear line."""

from __future__ import annotations

import json
from typing import Any

import pytest

from podtap.core.queues import AppConfig, EnvBinding, EnvPatchError, find_queue_env, patched_value

WHERE = "spec.queues[0].appConfig"
URL = "https://sqs.us-east-1.amazonaws.com/123456789012/orders"
POD: dict[str, Any] = {
    "containers": [
        {
            "name": "app",
            "env": [
                {"name": "ORDERS_QUEUE", "value": "orders"},
                {"name": "RETURNS_QUEUE", "value": "returns"},
                {"name": "ORDERS_URL", "value": URL},
                {"name": "SETTINGS", "value": json.dumps({"queue": {"name": "orders"}, "n": 1})},
                {"name": "FROM_SECRET", "valueFrom": {"secretKeyRef": {"name": "s", "key": "q"}}},
            ],
        },
        {"name": "sidecar", "env": [{"name": "ORDERS_QUEUE", "value": "orders"}]},
    ]
}


def app(**fields: Any) -> AppConfig:
    return AppConfig.model_validate(fields)


def test_env_names_the_var_in_every_container_that_has_it() -> None:
    found = find_queue_env(app(env="ORDERS_QUEUE"), POD, where=WHERE)
    assert found == [
        EnvBinding("app", "ORDERS_QUEUE", "orders", "orders"),
        EnvBinding("sidecar", "ORDERS_QUEUE", "orders", "orders"),
    ]
    assert patched_value(app(env="ORDERS_QUEUE"), found[0], "tmp-a1-orders", where=WHERE) == (
        "tmp-a1-orders"
    )


def test_containers_limit_the_search() -> None:
    found = find_queue_env(app(env="ORDERS_QUEUE", containers=["sidecar"]), POD, where=WHERE)
    assert [b.container for b in found] == ["sidecar"]


def test_env_like_finds_every_matching_var_each_its_own_queue() -> None:
    found = find_queue_env(app(envLike="[A-Z]+_QUEUE", containers=["app"]), POD, where=WHERE)
    assert [(b.var, b.queue) for b in found] == [
        ("ORDERS_QUEUE", "orders"),
        ("RETURNS_QUEUE", "returns"),
    ]


def test_value_pattern_replaces_the_name_inside_a_url() -> None:
    config = app(env="ORDERS_URL", valuePattern=r"/(?P<name>[^/]+)$")
    (binding,) = find_queue_env(config, POD, where=WHERE)
    assert binding.queue == "orders"
    assert patched_value(config, binding, "tmp-a1-orders", where=WHERE) == URL.replace(
        "/orders", "/tmp-a1-orders"
    )


def test_value_selector_replaces_the_name_inside_json() -> None:
    config = app(env="SETTINGS", valueSelector=".queue.name")
    (binding,) = find_queue_env(config, POD, where=WHERE)
    assert binding.queue == "orders"
    new = json.loads(patched_value(config, binding, "tmp-a1-orders", where=WHERE))
    assert new == {"queue": {"name": "tmp-a1-orders"}, "n": 1}


def test_a_var_from_a_secret_takes_the_running_pods_value() -> None:
    resolved = {"app": {"FROM_SECRET": "orders-prod"}}
    (binding,) = find_queue_env(app(env="FROM_SECRET"), POD, where=WHERE, resolved=resolved)
    assert binding == EnvBinding("app", "FROM_SECRET", "orders-prod", "orders-prod")


def test_fallback_adds_the_var_when_the_pod_has_none() -> None:
    config = app(env="JOBS_QUEUE", fallback="jobs", containers=["app"])
    (binding,) = find_queue_env(config, POD, where=WHERE)
    assert binding == EnvBinding("app", "JOBS_QUEUE", None, "jobs")
    assert patched_value(config, binding, "tmp-a1-jobs", where=WHERE) == "tmp-a1-jobs"


@pytest.mark.parametrize(
    ("fields", "message"),
    [
        (
            {"env": "JOBS_QUEUE"},
            r"^spec\.queues\[0\]\.appConfig: the pod has no env var 'JOBS_QUEUE'",
        ),
        ({"envLike": "NOPE_.*"}, r"the pod has no env var matching 'NOPE_\.\*'"),
        (
            {"env": "ORDERS_QUEUE", "containers": ["web"]},
            r"\.containers: the pod has no container 'web' \(it has app, sidecar\)",
        ),
        (
            {"env": "FROM_SECRET"},
            r"FROM_SECRET is set from a ConfigMap or Secret \(valueFrom\), which a split "
            r"cannot repoint yet: set the queue as a literal env value$",
        ),
        (
            {"env": "ORDERS_QUEUE", "valuePattern": "^https://"},
            r"\.valuePattern: '\^https://' not in 'orders'",
        ),
        ({"env": "ORDERS_QUEUE", "valueSelector": ".queue"}, r"\.valueSelector: "),
        ({"env": "SETTINGS", "valueSelector": ".n"}, r"\.valueSelector: '\.n' selects no string"),
    ],
)
def test_what_the_pod_does_not_have_is_one_line(fields: dict[str, Any], message: str) -> None:
    with pytest.raises(EnvPatchError, match=message) as caught:
        find_queue_env(app(**fields), POD, where=WHERE)
    assert "\n" not in str(caught.value)
