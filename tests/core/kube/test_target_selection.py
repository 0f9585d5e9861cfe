"""Which pods and which container a target means, decided from pod JSON alone."""

from __future__ import annotations

from typing import Any

import pytest

from podtap.core.kube.target_selection import (
    DEFAULT_CONTAINER,
    ContainerChoiceError,
    active_job_names,
    choose_container,
    controller_of,
    pod_ready,
    selected_pods,
    workload_selector,
)


def pod(
    name: str,
    *containers: str,
    labels: dict[str, str] | None = None,
    ready: bool = True,
    annotations: dict[str, str] | None = None,
    phase: str = "Running",
) -> dict[str, Any]:
    return {
        "metadata": {"name": name, "labels": labels or {}, "annotations": annotations or {}},
        "spec": {"containers": [{"name": c} for c in containers or ("app",)]},
        "status": {
            "phase": phase,
            "conditions": [{"type": "Ready", "status": "True" if ready else "False"}],
        },
    }


def owned(obj: dict[str, Any], kind: str, name: str, *, created: str) -> dict[str, Any]:
    obj["metadata"]["ownerReferences"] = [
        {"kind": "Other", "name": "x"},
        {"kind": kind, "name": name, "controller": True},
    ]
    obj["metadata"]["creationTimestamp"] = created
    return obj


def test_a_pod_is_ready_when_running_with_its_ready_condition_true_and_not_deleting() -> None:
    assert pod_ready(pod("a"))
    assert not pod_ready(pod("a", ready=False))
    assert not pod_ready(pod("a", phase="Pending"))
    deleting = pod("a")
    deleting["metadata"]["deletionTimestamp"] = "2026-01-01T00:00:00Z"
    assert not pod_ready(deleting)
    assert not pod_ready({"metadata": {"name": "bare"}})


def test_the_container_is_the_named_one_else_the_annotated_one_else_the_first_non_sidecar() -> None:
    meshed = pod("p", "istio-proxy", "linkerd-proxy", "vault-agent", "app", "worker")
    assert choose_container(meshed, None) == "app"
    assert choose_container(meshed, "worker") == "worker"
    assert choose_container(meshed, "istio-proxy") == "istio-proxy"  # named: always
    annotated = pod("p", "app", "worker", annotations={DEFAULT_CONTAINER: "worker"})
    assert choose_container(annotated, None) == "worker"
    unknown = pod("p", "envoy", "app", annotations={DEFAULT_CONTAINER: "gone"})
    assert choose_container(unknown, None) == "app"  # kubectl too falls back
    assert choose_container(pod("p", "envoy", "cloudsql-proxy"), None) == "envoy"
    for agent in ("podtap-agent", "mirrord-agent", "kuma-sidecar", "istio-init"):
        assert choose_container(pod("p", agent, "app"), None) == "app"


def test_a_missing_container_is_refused_listing_those_the_pod_has() -> None:
    with pytest.raises(ContainerChoiceError) as refused:
        choose_container(pod("shop-1", "app", "istio-proxy"), "db")
    assert str(refused.value) == "pod shop-1 has no container 'db' (it has app, istio-proxy)"


def test_pods_are_those_the_selector_matches_in_name_order() -> None:
    pods = [
        pod("web-b", labels={"app": "web", "tier": "x"}),
        pod("web-a", labels={"app": "web"}),
        pod("db-0", labels={"app": "db"}),
    ]
    by_labels = selected_pods({"matchLabels": {"app": "web"}}, pods)
    assert [p["metadata"]["name"] for p in by_labels] == ["web-a", "web-b"]
    expression = {"matchExpressions": [{"key": "tier", "operator": "Exists"}]}
    assert [p["metadata"]["name"] for p in selected_pods(expression, pods)] == ["web-b"]
    assert selected_pods(None, pods) == []
    assert len(selected_pods({}, pods)) == 3  # an empty selector selects everything


def test_workload_selectors_of_services_rollouts_and_the_rest() -> None:
    assert workload_selector("service", {"spec": {"selector": {"app": "a"}}}) == {
        "matchLabels": {"app": "a"}
    }
    assert workload_selector("service", {"spec": {}}) is None  # no selector, no pods
    structured = {"matchLabels": {"app": "d"}}
    assert workload_selector("deployment", {"spec": {"selector": structured}}) == structured
    rollout = {"spec": {"workloadRef": {"kind": "Deployment", "name": "d"}}}
    deployment = {"spec": {"selector": structured}}
    assert workload_selector("rollout", rollout, deployment=deployment) == structured
    assert workload_selector("rollout", rollout) is None  # its Deployment is missing
    own = {"spec": {"selector": {"matchLabels": {"app": "r"}}, "workloadRef": {"name": "d"}}}
    assert workload_selector("rollout", own, deployment=deployment) == own["spec"]["selector"]


def test_a_cronjob_means_its_newest_unfinished_job() -> None:
    cron = {"metadata": {"name": "nightly"}, "status": {"active": [{"name": "listed"}]}}
    done = owned({"metadata": {"name": "nightly-1"}}, "CronJob", "nightly", created="2026-01-01")
    done["status"] = {"conditions": [{"type": "Complete", "status": "True"}]}
    old = owned({"metadata": {"name": "nightly-2"}}, "CronJob", "nightly", created="2026-01-02")
    new = owned({"metadata": {"name": "nightly-3"}}, "CronJob", "nightly", created="2026-01-03")
    other = owned({"metadata": {"name": "weekly-1"}}, "CronJob", "weekly", created="2026-01-04")
    listed = {"metadata": {"name": "listed", "creationTimestamp": "2025-12-31"}}
    jobs = [done, old, other, new, listed]
    assert active_job_names(cron, jobs) == ["nightly-3", "nightly-2", "listed"]
    assert active_job_names({"metadata": {"name": "none"}}, jobs) == []


def test_the_controller_is_the_owner_reference_marked_so() -> None:
    obj = owned({"metadata": {"name": "p"}}, "ReplicaSet", "web-1", created="")
    assert controller_of(obj) == ("ReplicaSet", "web-1")
    assert controller_of({"metadata": {"ownerReferences": [{"kind": "X", "name": "y"}]}}) is None
