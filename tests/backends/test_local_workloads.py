"""Which pods the embedded local cluster should run for its workloads (pure planning)."""

from __future__ import annotations

import re
from collections.abc import Iterable
from typing import Any

import pytest

from podtap.backends.local.manifests import KINDS, Unknown
from podtap.backends.local.pod import PodPlan
from podtap.backends.local.store import Stored
from podtap.backends.local.workloads import Changes, Existing, plan

LABELS = {"app": "web"}


def _stored(raw: dict[str, Any]) -> Stored:
    model = KINDS.get(raw["kind"], Unknown).model_validate(raw)
    return Stored(raw, model, f"uid-{raw['metadata']['name']}", 1700000000.0, 1)


def _meta(name: str, namespace: str | None) -> dict[str, Any]:
    return {"name": name} | ({"namespace": namespace} if namespace else {})


def _workload(
    name: str,
    replicas: int,
    *,
    kind: str = "Deployment",
    command: str = "serve",
    namespace: str | None = None,
    service_name: str | None = None,
) -> Stored:
    spec: dict[str, Any] = {
        "replicas": replicas,
        "selector": {"matchLabels": LABELS},
        "template": {
            "metadata": {"labels": {**LABELS, "tier": "front"}},
            "spec": {"containers": [{"name": "app", "command": [command]}]},
        },
    }
    if service_name:
        spec["serviceName"] = service_name
    return _stored(
        {"apiVersion": "apps/v1", "kind": kind, "metadata": _meta(name, namespace), "spec": spec}
    )


def _pod(
    name: str,
    *,
    command: str = "serve",
    labels: dict[str, str] | None = None,
    namespace: str | None = None,
) -> Stored:
    meta = _meta(name, namespace) | {"labels": LABELS if labels is None else labels}
    return _stored(
        {
            "apiVersion": "v1",
            "kind": "Pod",
            "metadata": meta,
            "spec": {"containers": [{"name": "app", "command": [command]}]},
        }
    )


def _existing(plans: Iterable[PodPlan], *, finished: Iterable[str] = ()) -> list[Existing]:
    done = set(finished)
    return [Existing(p.namespace, p.name, p.owner, p.template_hash, p.name in done) for p in plans]


def _running(objects: list[Stored]) -> list[Existing]:
    """The pods that exist once the plan for objects has been carried out."""
    return _existing(plan(objects, []).create)


NO_CHANGES = Changes([], [])


def test_deployment_creates_replicas_pods() -> None:
    web = _workload("web", 3)
    changes = plan([web], [])
    assert changes.delete == []
    assert len(changes.create) == 3
    assert len({p.name for p in changes.create}) == 3
    (template_hash,) = {p.template_hash for p in changes.create}
    for p in changes.create:
        assert re.fullmatch(rf"web-{template_hash[:8]}-[a-z0-9]{{5}}", p.name)
        assert (p.namespace, p.owner, p.hostname, p.subdomain) == (
            "default",
            "Deployment/default/web",
            p.name,
            None,
        )
        assert p.labels == {"app": "web", "tier": "front"}
        assert p.spec.containers[0].command == ["serve"]
    assert plan([web], _existing(changes.create)) == NO_CHANGES


def test_deployment_in_a_namespace_and_with_no_replicas() -> None:
    (p,) = plan([_workload("web", 1, namespace="team")], []).create
    assert (p.namespace, p.owner) == ("team", "Deployment/team/web")
    assert plan([_workload("web", 0)], []) == NO_CHANGES


@pytest.mark.parametrize(("before", "after"), [(3, 1), (3, 0), (1, 4), (2, 2)])
def test_deployment_scaling(before: int, after: int) -> None:
    existing = _running([_workload("web", before)])
    changes = plan([_workload("web", after)], existing)
    names = {e.name for e in existing}
    assert len(changes.delete) == max(before - after, 0)
    assert len(set(changes.delete)) == len(changes.delete)
    assert {n for _, n in changes.delete} <= names
    assert len(changes.create) == max(after - before, 0)
    assert not {p.name for p in changes.create} & names


def test_deployment_template_change_replaces_every_pod() -> None:
    old = _running([_workload("web", 2)])
    changes = plan([_workload("web", 2, command="serve-v2")], old)
    assert sorted(changes.delete) == sorted(("default", e.name) for e in old)
    assert len(changes.create) == 2
    assert [p.spec.containers[0].command for p in changes.create] == [["serve-v2"]] * 2
    assert {p.template_hash for p in changes.create}.isdisjoint(e.template_hash for e in old)


def test_deployment_replaces_finished_pods() -> None:
    web = _workload("web", 2)
    plans = plan([web], []).create
    changes = plan([web], _existing(plans, finished=[plans[0].name]))
    assert changes.delete == [("default", plans[0].name)]
    assert len(changes.create) == 1
    assert changes.create[0].name not in {p.name for p in plans}


def test_statefulset_creates_ordinal_pods_with_stable_hostnames() -> None:
    db = _workload("db", 3, kind="StatefulSet", namespace="data", service_name="db-headless")
    changes = plan([db], [])
    assert changes.delete == []
    assert [(p.namespace, p.name, p.hostname, p.subdomain, p.owner) for p in changes.create] == [
        ("data", f"db-{i}", f"db-{i}", "db-headless", "StatefulSet/data/db") for i in range(3)
    ]
    assert plan([db], _existing(changes.create)) == NO_CHANGES


def test_statefulset_without_service_name_has_no_subdomain() -> None:
    (p,) = plan([_workload("db", 1, kind="StatefulSet")], []).create
    assert (p.name, p.subdomain) == ("db-0", None)


@pytest.mark.parametrize(
    ("before", "after", "deleted", "created"),
    [
        (3, 2, ["db-2"], []),
        (4, 1, ["db-1", "db-2", "db-3"], []),
        (3, 0, ["db-0", "db-1", "db-2"], []),
        (1, 3, [], ["db-1", "db-2"]),
    ],
)
def test_statefulset_scaling_removes_the_highest_ordinals(
    before: int, after: int, deleted: list[str], created: list[str]
) -> None:
    existing = _running([_workload("db", before, kind="StatefulSet")])
    changes = plan([_workload("db", after, kind="StatefulSet")], existing)
    assert sorted(changes.delete) == [("default", n) for n in deleted]
    assert [p.name for p in changes.create] == created


def test_statefulset_recreates_missing_ordinal() -> None:
    db = _workload("db", 3, kind="StatefulSet")
    existing = [e for e in _running([db]) if e.name != "db-1"]
    changes = plan([db], existing)
    assert (changes.delete, [p.name for p in changes.create]) == ([], ["db-1"])


def test_statefulset_template_change_replaces_every_pod_under_the_same_names() -> None:
    old = _running([_workload("db", 2, kind="StatefulSet")])
    changes = plan([_workload("db", 2, kind="StatefulSet", command="v2")], old)
    assert sorted(changes.delete) == [("default", "db-0"), ("default", "db-1")]
    assert [p.name for p in changes.create] == ["db-0", "db-1"]
    assert {p.template_hash for p in changes.create}.isdisjoint(e.template_hash for e in old)


def test_statefulset_replaces_finished_pods() -> None:
    db = _workload("db", 2, kind="StatefulSet")
    changes = plan([db], _existing(plan([db], []).create, finished=["db-0"]))
    assert changes.delete == [("default", "db-0")]
    assert [p.name for p in changes.create] == ["db-0"]


def test_bare_pod_is_created_once() -> None:
    pod = _pod("tool", namespace="team")
    (p,) = plan([pod], []).create
    assert (p.namespace, p.name, p.labels, p.owner, p.hostname, p.subdomain) == (
        "team",
        "tool",
        LABELS,
        None,
        "tool",
        None,
    )
    assert p.spec.containers[0].command == ["serve"]
    assert plan([pod], _existing([p])) == NO_CHANGES
    assert plan([pod], _existing([p], finished=["tool"])) == NO_CHANGES


@pytest.mark.parametrize(
    ("command", "labels"),
    [("other", LABELS), ("serve", {"app": "tool"}), ("serve", {})],
)
def test_bare_pod_is_recreated_when_it_changes(command: str, labels: dict[str, str]) -> None:
    changes = plan([_pod("tool", command=command, labels=labels)], _running([_pod("tool")]))
    assert changes.delete == [("default", "tool")]
    assert [(p.name, p.labels, p.spec.containers[0].command) for p in changes.create] == [
        ("tool", labels, [command])
    ]


def test_bare_pods_are_told_apart_by_namespace() -> None:
    existing = _running([_pod("tool", namespace="a"), _pod("tool", namespace="b")])
    changes = plan([_pod("tool", namespace="b")], existing)
    assert changes == Changes([], [("a", "tool")])


def test_pods_of_deleted_objects_are_deleted_but_run_pods_are_left_alone() -> None:
    objects = [
        _workload("web", 2),
        _workload("web", 1, namespace="team"),
        _workload("db", 2, kind="StatefulSet"),
        _pod("tool"),
    ]
    existing = [
        *_running(objects),
        Existing("default", "debug", "Run/default/debug", "run", False),
        Existing("default", "job", "Run/default/job", "run", True),
    ]
    changes = plan([objects[1]], existing)
    assert changes.create == []
    assert sorted(changes.delete) == sorted(
        (e.namespace, e.name)
        for e in existing
        if e.owner is None or e.owner in ("Deployment/default/web", "StatefulSet/default/db")
    )
    assert len(changes.delete) == 5
    assert plan([], existing[-2:]) == NO_CHANGES


def test_a_deployment_and_statefulset_of_the_same_name_are_distinct_owners() -> None:
    deployment, statefulset = _workload("web", 1), _workload("web", 1, kind="StatefulSet")
    existing = _running([deployment, statefulset])
    assert plan([deployment, statefulset], existing) == NO_CHANGES
    assert plan([statefulset], existing).delete == [
        ("default", e.name) for e in existing if e.owner == "Deployment/default/web"
    ]


@pytest.mark.parametrize(
    "raw",
    [
        {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "team"}},
        {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "c"}, "data": {"a": "b"}},
        {"apiVersion": "v1", "kind": "Secret", "metadata": {"name": "s"}},
        {
            "apiVersion": "v1",
            "kind": "Service",
            "metadata": {"name": "web"},
            "spec": {"selector": LABELS, "ports": [{"port": 80}]},
        },
        {"apiVersion": "example.com/v1", "kind": "Widget", "metadata": {"name": "w"}},
    ],
)
def test_other_kinds_make_no_pods(raw: dict[str, Any]) -> None:
    assert plan([_stored(raw)], []) == NO_CHANGES
