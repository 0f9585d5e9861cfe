"""The workload side of a split: env written into the pod template and nothing else, and
rollout read from the workload's status."""

from __future__ import annotations

from typing import Any

from podtap.operator.queue_split_workload import (
    RECORD_ANNOTATION,
    SplitRecord,
    _rolled_out,
    env_patched,
    recorded,
)

DEPLOYMENT: dict[str, Any] = {
    "apiVersion": "apps/v1",
    "kind": "Deployment",
    "metadata": {"name": "c", "namespace": "default", "resourceVersion": "7"},
    "spec": {
        "replicas": 2,
        "template": {
            "spec": {
                "containers": [
                    {"name": "app", "env": [{"name": "Q", "value": "orders"},
                                            {"name": "X", "value": "1"}]},
                    {"name": "side", "env": [{"name": "Q", "value": "orders"}]},
                ]
            }
        },
    },
    "status": {"replicas": 2},
}  # fmt: skip


def _env(obj: dict[str, Any], container: int) -> list[dict[str, Any]]:
    env: list[dict[str, Any]] = obj["spec"]["template"]["spec"]["containers"][container]["env"]
    return env


def test_only_the_named_vars_of_the_named_containers_change() -> None:
    new = env_patched(DEPLOYMENT, {"app": {"Q": "fb", "ADDED": "a"}})
    assert _env(new, 0) == [
        {"name": "Q", "value": "fb"},
        {"name": "X", "value": "1"},
        {"name": "ADDED", "value": "a"},
    ]
    assert _env(new, 1) == [{"name": "Q", "value": "orders"}]
    assert _env(DEPLOYMENT, 0)[0] == {"name": "Q", "value": "orders"}  # a copy
    assert "status" not in new and "resourceVersion" not in new["metadata"]


def test_a_var_the_split_added_is_removed_on_restore() -> None:
    added = env_patched(DEPLOYMENT, {"side": {"NEW": "fb"}})
    assert _env(env_patched(added, {"side": {"NEW": None}}), 1) == _env(DEPLOYMENT, 1)


def test_rolled_out_by_status() -> None:
    meta = {**DEPLOYMENT["metadata"], "generation": 3}
    done = {"observedGeneration": 3, "replicas": 2, "updatedReplicas": 2, "readyReplicas": 2}
    assert _rolled_out({**DEPLOYMENT, "metadata": meta, "status": done}) is True
    old = {**done, "observedGeneration": 2}
    assert _rolled_out({**DEPLOYMENT, "metadata": meta, "status": old}) is False
    surge = {**done, "replicas": 3}  # an old pod still runs
    assert _rolled_out({**DEPLOYMENT, "metadata": meta, "status": surge}) is False
    assert _rolled_out(DEPLOYMENT) is None  # no status: ask the pods


def test_the_split_record_rides_on_the_workload_and_leaves_the_template_alone() -> None:
    record = SplitRecord(restore={"app": {"Q": "orders", "ADDED": None}}, made={"fb": "orders"})
    carried = recorded(DEPLOYMENT, record)
    assert SplitRecord.of(carried) == record
    assert carried["spec"] == {k: v for k, v in DEPLOYMENT["spec"].items()}  # no rollout
    assert RECORD_ANNOTATION not in recorded(carried, None)["metadata"]["annotations"]
    assert SplitRecord.of(DEPLOYMENT) is None
    for junk in ("", "{}", "[1]", '{"restore": [], "made": {}}'):  # not one podtap wrote
        meta = {**DEPLOYMENT["metadata"], "annotations": {RECORD_ANNOTATION: junk}}
        assert SplitRecord.of({**DEPLOYMENT, "metadata": meta}) is None
