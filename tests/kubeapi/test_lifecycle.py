"""Deletion, garbage collection and RBAC writes through the verbs, without HTTP."""

from __future__ import annotations

from typing import Any

import pytest

from podtap.backends.local.kubeapi import kinds, verbs
from podtap.backends.local.kubeapi.context import ApiContext
from podtap.backends.local.kubeapi.registry import Registry
from podtap.backends.local.kubeapi.routes import Target, resolve
from podtap.backends.local.kubeapi.status import ApiError
from podtap.core.kube.refusal import Refusal
from podtap.core.kube.users import UserInfo


def context() -> ApiContext:
    ctx = ApiContext()
    kinds.seed(ctx)
    return ctx


def target(registry: Registry, path: str, group: str = "", version: str = "v1") -> Target:
    return resolve(registry, group=group, version=version, rest=path.split("/"))


def configmap(ctx: ApiContext, name: str, *owners: dict[str, Any]) -> dict[str, Any]:
    meta: dict[str, Any] = {"name": name}
    if owners:
        meta["ownerReferences"] = [
            {"apiVersion": "v1", "kind": "ConfigMap", "name": o["metadata"]["name"],
             "uid": o["metadata"]["uid"]}
            for o in owners
        ]  # fmt: skip
    t = target(ctx.registry, "namespaces/default/configmaps")
    return verbs.create(ctx, t, {"metadata": meta})


def names(ctx: ApiContext) -> list[str]:
    t = target(ctx.registry, "namespaces/default/configmaps")
    return [o["metadata"]["name"] for o in verbs.list_objects(ctx, t, verbs.ListOptions())[0]]


def delete(ctx: ApiContext, name: str, **options: Any) -> dict[str, Any]:
    t = target(ctx.registry, f"namespaces/default/configmaps/{name}")
    return verbs.delete(ctx, t, options)


def test_a_dependent_with_another_live_owner_survives() -> None:
    ctx = context()
    a, b = configmap(ctx, "a"), configmap(ctx, "b")
    configmap(ctx, "both", a, b)
    configmap(ctx, "only-a", a)
    assert delete(ctx, "a")["status"] == "Success"
    assert names(ctx) == ["b", "both"]
    both = verbs.get(ctx, target(ctx.registry, "namespaces/default/configmaps/both"))
    assert [r["name"] for r in both["metadata"]["ownerReferences"]] == ["b"]
    delete(ctx, "b")
    assert names(ctx) == []


def test_a_dependent_written_after_its_owner_went_is_collected() -> None:
    ctx = context()
    gone = configmap(ctx, "gone")
    delete(ctx, "gone")
    late = configmap(ctx, "late", gone)  # created as the API answers, then collected
    assert late["metadata"]["name"] == "late" and names(ctx) == []
    live = configmap(ctx, "live")
    configmap(ctx, "kept", gone, live)  # one live owner is enough
    assert names(ctx) == ["kept", "live"]
    stranger = {"apiVersion": "example.com/v1", "kind": "Nobody", "name": "x", "uid": "u"}
    t = target(ctx.registry, "namespaces/default/configmaps")
    verbs.create(ctx, t, {"metadata": {"name": "unknown", "ownerReferences": [stranger]}})
    assert "unknown" in names(ctx)  # an owner the API cannot resolve is never assumed gone
    moved = verbs.get(ctx, target(ctx.registry, "namespaces/default/configmaps/live"))
    moved["metadata"]["ownerReferences"] = [
        {"apiVersion": "v1", "kind": "ConfigMap", "name": "gone", "uid": gone["metadata"]["uid"]}
    ]
    verbs.update(ctx, target(ctx.registry, "namespaces/default/configmaps/live"), moved)
    assert names(ctx) == ["unknown"]  # live now names only a gone owner; kept lost its last


def test_dry_run_delete_and_cascades_leave_everything() -> None:
    ctx = context()
    owner = configmap(ctx, "owner")
    configmap(ctx, "child", owner)
    before = ctx.store.revision
    t = target(ctx.registry, "namespaces/default/configmaps/owner")
    assert verbs.delete(ctx, t, {}, dry_run=True)["status"] == "Success"
    kept = verbs.delete(ctx, t, {"propagationPolicy": "Foreground"}, dry_run=True)
    assert kept["metadata"]["finalizers"] == ["foregroundDeletion"]
    assert ctx.store.revision == before and names(ctx) == ["child", "owner"]
    ns = target(ctx.registry, "namespaces/default")
    with pytest.raises(Refusal, match="this namespace may not be deleted"):
        verbs.delete(ctx, ns, {})


def test_a_bad_propagation_policy_is_invalid() -> None:
    ctx = context()
    configmap(ctx, "x")
    with pytest.raises(ApiError, match='Unsupported value: "Sideways"'):
        delete(ctx, "x", propagationPolicy="Sideways")


def test_rbac_writes_are_checked_for_escalation() -> None:
    ctx = context()
    alice = UserInfo("alice", ("system:authenticated",))
    roles = target(ctx.registry, "namespaces/default/roles", "rbac.authorization.k8s.io")
    role = {"metadata": {"name": "r"},
            "rules": [{"apiGroups": [""], "resources": ["secrets"], "verbs": ["get"]}]}  # fmt: skip
    with pytest.raises(Refusal, match="attempting to grant RBAC permissions not currently held"):
        verbs.create(ctx, roles, dict(role), verbs.Write(user=alice))
    verbs.create(ctx, roles, dict(role))  # an internal write (no user) is not checked
    bindings = target(ctx.registry, "namespaces/default/rolebindings", "rbac.authorization.k8s.io")
    ref = {"apiGroup": "rbac.authorization.k8s.io", "kind": "Role", "name": "no"}
    subjects = [{"kind": "User", "name": "alice"}]
    missing = {"metadata": {"name": "b"}, "subjects": subjects, "roleRef": ref}
    with pytest.raises(Refusal) as refused:
        verbs.create(ctx, bindings, missing, verbs.Write(user=alice))
    assert refused.value.code == 404
