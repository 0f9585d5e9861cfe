"""The workload side of a split: env written into the pod template and nothing else, and
rollout read from the workload's status."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

from podtap.operator.queue_split_workload import (
    RECORD_ANNOTATION,
    SplitRecord,
    Workload,
    WorkloadError,
    _rolled_out,
    env_patched,
    recorded,
)
from podtap.testing.fakebackend import FakeCluster

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


ROLLOUT: dict[str, Any] = {
    **DEPLOYMENT,
    "apiVersion": "argoproj.io/v1alpha1",
    "kind": "Rollout",
    "metadata": {"name": "c", "namespace": "default", "generation": 4},
}


def test_an_argo_rollout_is_split_like_a_deployment() -> None:
    new = env_patched(ROLLOUT, {"app": {"Q": "fb"}})
    assert _env(new, 0)[0] == {"name": "Q", "value": "fb"} and new["kind"] == "Rollout"
    done = {"observedGeneration": "4", "replicas": 2, "updatedReplicas": 2, "readyReplicas": 2}
    assert _rolled_out({**ROLLOUT, "status": done}) is True
    paused = {**done, "updatedReplicas": 1}  # a canary step: not every pod on the template
    assert _rolled_out({**ROLLOUT, "status": paused}) is False
    hashed = {**done, "observedGeneration": "7d9f6c"}  # older Argo: a hash, not a number
    assert _rolled_out({**ROLLOUT, "status": hashed}) is None  # then the pods are asked


def test_a_rollout_with_a_workload_ref_is_refused_in_one_line() -> None:
    async def go() -> None:
        cluster = FakeCluster([])
        ref = {"apiVersion": "apps/v1", "kind": "Deployment", "name": "web"}
        await cluster.put_resource({**ROLLOUT, "spec": {"replicas": 1, "workloadRef": ref}})
        workload = Workload(cluster, kind="rollout", namespace="default", name="c")
        with pytest.raises(WorkloadError) as caught:
            await workload.pod_spec()
        assert str(caught.value) == (
            "rollout/c takes its pod template from deployment/web (workloadRef), which a "
            "split cannot repoint yet"
        )
        with pytest.raises(WorkloadError, match="deployment, statefulset or rollout target"):
            Workload(cluster, kind="job", namespace="default", name="c")

    asyncio.run(go())
