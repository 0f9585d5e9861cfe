"""RBAC objects as the server keeps them: bootstrap policy, aggregation, escalation checks.

A fresh kube-apiserver writes its bootstrap ClusterRoles and bindings (cluster-admin,
admin/edit/view, system:discovery, system:basic-user...) before serving; they are seeded here
the same way, so a limited user can read discovery and ask `kubectl auth can-i` and an
admin can bind `edit` to someone. kube-controller-manager's aggregation controller fills the
rules of every ClusterRole with an `aggregationRule`; here that runs inline after each
ClusterRole write or delete, so a role labelled `aggregate-to-view` widens `view` in the same
request. Writes of roles and bindings go through the escalation checks of RBAC's storage: you
cannot grant what you do not hold (unless you may `escalate`/`bind`).
"""

from __future__ import annotations

from podtap.backends.local.kubeapi import semantics
from podtap.backends.local.kubeapi.context import ApiContext
from podtap.backends.local.kubeapi.resources import BUILTINS, ResourceType
from podtap.backends.local.kubeapi.store import Key, Obj
from podtap.core.kube.rbac_aggregation import aggregate_all
from podtap.core.kube.rbac_bootstrap import (
    bootstrap_cluster_role_bindings,
    bootstrap_cluster_roles,
    cluster_role_binding_json,
    cluster_role_json,
)
from podtap.core.kube.rbac_escalation import check_binding_write, check_role_write
from podtap.core.kube.rbac_types import RBAC_GROUP, ClusterRole, PolicyRule, RoleRef
from podtap.core.kube.users import UserInfo

CLUSTER_ROLES = next(r for r in BUILTINS if r.plural == "clusterroles")
CLUSTER_ROLE_BINDINGS = next(r for r in BUILTINS if r.plural == "clusterrolebindings")
ROLES = next(r for r in BUILTINS if r.plural == "roles")


def auth_reader_role() -> Obj:
    """bootstrappolicy's namespace role in kube-system that aggregated API servers are bound
    to (`<name>-auth-reader` RoleBindings), to read the requestheader CA and allowed names."""
    return {
        "apiVersion": f"{RBAC_GROUP}/v1",
        "kind": "Role",
        "metadata": {
            "name": "extension-apiserver-authentication-reader",
            "namespace": "kube-system",
            "labels": {"kubernetes.io/bootstrapping": "rbac-defaults"},
            "annotations": {"rbac.authorization.kubernetes.io/autoupdate": "true"},
        },
        "rules": [
            PolicyRule(
                verbs=("get", "list", "watch"),
                api_groups=("",),
                resources=("configmaps",),
                resource_names=("extension-apiserver-authentication",),
            ).to_json()
        ],
    }


def seed(ctx: ApiContext) -> None:
    """The bootstrap ClusterRoles, ClusterRoleBindings and kube-system Role, each unless
    already stored."""
    seeds = [(CLUSTER_ROLES, cluster_role_json(r)) for r in bootstrap_cluster_roles()]
    seeds += [
        (CLUSTER_ROLE_BINDINGS, cluster_role_binding_json(b))
        for b in bootstrap_cluster_role_bindings()
    ]
    seeds.append((ROLES, auth_reader_role()))
    for rt, obj in seeds:
        namespace = obj["metadata"].get("namespace", "")
        key = Key(RBAC_GROUP, rt.plural, namespace, obj["metadata"]["name"])
        if ctx.store.get(key) is None:
            ctx.store.put(key, semantics.prepare_create(rt, obj, namespace=namespace))


def aggregate(ctx: ApiContext) -> None:
    """Give every aggregating ClusterRole the rules of the roles it selects (to a fixed point)."""
    stored = ctx.store.items(group=RBAC_GROUP, plural="clusterroles")
    settled = aggregate_all([ClusterRole.from_json(o) for o in stored])
    for obj in stored:
        name = obj["metadata"]["name"]
        if obj.get("aggregationRule") is None or name not in settled:
            continue
        rules = [rule.to_json() for rule in settled[name].rules]
        if rules != (obj.get("rules") or []):
            obj["rules"] = rules
            ctx.store.put(Key(RBAC_GROUP, "clusterroles", "", name), obj)


def check_write(
    ctx: ApiContext, rt: ResourceType, obj: Obj, *, old: Obj | None, user: UserInfo | None
) -> None:
    """Refuse (403, or 404 for a binding to a missing role) a write that would escalate."""
    if rt.group != RBAC_GROUP or user is None:
        return
    meta = obj.get("metadata") or {}
    name, namespace = str(meta.get("name", "")), str(meta.get("namespace", ""))
    policy = ctx.rbac.policy()
    if rt.plural in ("roles", "clusterroles"):
        rules = [PolicyRule.from_json(r) for r in obj.get("rules") or ()]
        aggregates = obj.get("aggregationRule") is not None or (
            old is not None and old.get("aggregationRule") is not None
        )
        refusal = check_role_write(
            user,
            kind=rt.kind,
            name=name,
            namespace=namespace,
            rules=rules,
            aggregates=aggregates,
            policy=policy,
        )
    elif rt.plural in ("rolebindings", "clusterrolebindings"):
        ref = RoleRef.from_json(obj.get("roleRef") or {})
        refusal = check_binding_write(
            user, kind=rt.kind, name=name, namespace=namespace, role_ref=ref, policy=policy
        )
    else:
        return
    if refusal is not None:
        raise refusal
