"""Aggregation of ClusterRoles, and the escalation checks on RBAC writes."""

from __future__ import annotations

from podtap.core.kube.rbac import Policy
from podtap.core.kube.rbac_aggregation import aggregate_all, aggregated_rules
from podtap.core.kube.rbac_escalation import (
    check_binding_write,
    check_role_write,
    compact_string,
    covers,
)
from podtap.core.kube.rbac_types import ClusterRole, PolicyRule, RoleBinding, RoleRef, Subject
from podtap.core.kube.users import UserInfo

ALICE_GROUPS = ("system:authenticated",)
ALICE = UserInfo("alice", ALICE_GROUPS)
PODS_GET = PolicyRule(("get",), ("",), ("pods",))
PODS_LIST = PolicyRule(("list",), ("",), ("pods",))
SECRETS = PolicyRule(("get",), ("",), ("secrets",))


def selector(label: str) -> tuple[dict[str, object], ...]:
    return ({"matchLabels": {label: "true"}},)


def test_an_aggregated_role_takes_the_rules_of_the_roles_it_selects() -> None:
    monitoring = ClusterRole("monitoring", (), aggregation=selector("agg"))
    a = ClusterRole("b-role", (PODS_GET,), {"agg": "true"})
    b = ClusterRole("a-role", (PODS_LIST, PODS_GET), {"agg": "true"})
    unrelated = ClusterRole("other", (SECRETS,))
    assert aggregated_rules(monitoring, [monitoring, a, b, unrelated]) == (PODS_LIST, PODS_GET)


def test_own_rules_are_replaced_and_self_is_skipped() -> None:
    role = ClusterRole("r", (SECRETS,), {"agg": "true"}, selector("agg"))
    assert aggregated_rules(role, [role]) == ()
    assert aggregated_rules(ClusterRole("r", (SECRETS,), aggregation=()), []) == ()
    assert aggregated_rules(ClusterRole("r", (SECRETS,)), []) == (SECRETS,)


def test_aggregation_chains_converge() -> None:
    # view -> edit -> admin, as the bootstrap roles are labelled, given in an awkward order.
    admin = ClusterRole("admin", (), aggregation=selector("to-admin"))
    edit = ClusterRole("edit", (), {"to-admin": "true"}, selector("to-edit"))
    view = ClusterRole("view", (), {"to-edit": "true"}, selector("to-view"))
    leaf = ClusterRole("leaf", (PODS_GET,), {"to-view": "true"})
    extra = ClusterRole("extra", (SECRETS,), {"to-edit": "true"})
    roles = aggregate_all([admin, edit, view, leaf, extra])
    assert roles["view"].rules == (PODS_GET,)
    assert set(roles["edit"].rules) == {PODS_GET, SECRETS}
    assert set(roles["admin"].rules) == {PODS_GET, SECRETS}


def test_a_cycle_settles() -> None:
    one = ClusterRole("one", (PODS_GET,), {"x": "true"}, selector("y"))
    two = ClusterRole("two", (SECRETS,), {"y": "true"}, selector("x"))
    roles = aggregate_all([one, two])
    assert aggregate_all(list(roles.values())) == roles


def test_covers() -> None:
    owner = [PolicyRule(("get", "list"), ("",), ("pods", "pods/log"))]
    assert covers(owner, [PolicyRule(("get",), ("",), ("pods",))]) == (True, [])
    ok, missing = covers(owner, [PolicyRule(("get", "delete"), ("",), ("pods",))])
    assert not ok
    assert missing == [PolicyRule(("delete",), ("",), ("pods",))]
    assert covers(
        [PolicyRule(("get",), ("",), ("*/log",))], [PolicyRule(("get",), ("",), ("pods/log",))]
    )[0]
    named = [PolicyRule(("get",), ("",), ("configmaps",), ("a",))]
    assert covers(named, [PolicyRule(("get",), ("",), ("configmaps",), ("a",))])[0]
    assert not covers(named, [PolicyRule(("get",), ("",), ("configmaps",))])[0]
    assert covers(
        [PolicyRule(("get",), non_resource_urls=("/api/*",))],
        [PolicyRule(("get",), non_resource_urls=("/api/v1",))],
    )[0]


def test_compact_string_is_gos() -> None:
    rule = PolicyRule(("get", "list"), ("apps",), ("deployments",), ("web",))
    assert (
        compact_string(rule)
        == '{APIGroups:["apps"], Resources:["deployments"], ResourceNames:["web"], '
        'Verbs:["get" "list"]}'
    )


ALICE_EDITS = Policy(
    cluster_roles=(
        ClusterRole("edit-pods", (PolicyRule(("get", "list", "create"), ("",), ("pods",)),)),
        ClusterRole("secrets", (SECRETS,)),
        ClusterRole(
            "binder",
            (
                PolicyRule(
                    ("bind",), ("rbac.authorization.k8s.io",), ("clusterroles",), ("secrets",)
                ),
            ),
        ),
        ClusterRole(
            "escalator", (PolicyRule(("escalate",), ("rbac.authorization.k8s.io",), ("roles",)),)
        ),
    ),
    role_bindings=(
        RoleBinding("team", "b", RoleRef("ClusterRole", "edit-pods"), (Subject("User", "alice"),)),
    ),
)


def test_a_role_may_grant_only_what_its_writer_holds() -> None:
    user = ALICE
    ok = check_role_write(
        user,
        kind="Role",
        name="r",
        namespace="team",
        rules=[PODS_GET, PODS_LIST],
        policy=ALICE_EDITS,
    )
    assert ok is None
    refusal = check_role_write(
        user, kind="Role", name="r", namespace="team", rules=[PODS_GET, SECRETS], policy=ALICE_EDITS
    )
    assert refusal is not None
    assert refusal.code == 403
    assert refusal.message == (
        'roles.rbac.authorization.k8s.io "r" is forbidden: user "alice" '
        '(groups=["system:authenticated"]) is attempting to grant RBAC permissions not currently '
        "held:\n"
        '{APIGroups:[""], Resources:["secrets"], Verbs:["get"]}'
    )
    assert refusal.status()["details"] == {
        "name": "r",
        "group": "rbac.authorization.k8s.io",
        "kind": "roles",
    }
    # Outside the namespace alice holds nothing.
    assert check_role_write(
        user, kind="Role", name="r", namespace="other", rules=[PODS_GET], policy=ALICE_EDITS
    )


def test_missing_verbs_are_compacted_one_line_per_resource() -> None:
    user = ALICE
    wanted = [PolicyRule(("delete", "patch"), ("", "apps"), ("pods", "deployments"))]
    refusal = check_role_write(
        user, kind="ClusterRole", name="c", namespace="", rules=wanted, policy=ALICE_EDITS
    )
    assert refusal is not None
    assert refusal.message.split("\n")[1:] == [
        '{APIGroups:[""], Resources:["deployments"], Verbs:["delete" "patch"]}',
        '{APIGroups:[""], Resources:["pods"], Verbs:["delete" "patch"]}',
        '{APIGroups:["apps"], Resources:["deployments"], Verbs:["delete" "patch"]}',
        '{APIGroups:["apps"], Resources:["pods"], Verbs:["delete" "patch"]}',
    ]


def test_escalate_verb_and_system_masters_skip_the_check() -> None:
    user = ALICE
    policy = Policy(
        cluster_roles=ALICE_EDITS.cluster_roles,
        role_bindings=(
            *ALICE_EDITS.role_bindings,
            RoleBinding(
                "team", "e", RoleRef("ClusterRole", "escalator"), (Subject("User", "alice"),)
            ),
        ),
    )
    assert (
        check_role_write(
            user, kind="Role", name="r", namespace="team", rules=[SECRETS], policy=policy
        )
        is None
    )
    root = UserInfo("root", ("system:masters",))
    assert (
        check_role_write(
            root,
            kind="ClusterRole",
            name="c",
            namespace="",
            rules=[SECRETS],
            aggregates=True,
            policy=Policy(),
        )
        is None
    )


def test_an_aggregation_rule_needs_cluster_admin() -> None:
    user = ALICE
    refusal = check_role_write(
        user,
        kind="ClusterRole",
        name="agg",
        namespace="",
        rules=[],
        aggregates=True,
        policy=ALICE_EDITS,
    )
    assert refusal is not None
    assert refusal.message == (
        'clusterroles.rbac.authorization.k8s.io "agg" is forbidden: '
        "must have cluster-admin privileges to use the aggregationRule"
    )


def test_bindings_need_the_roles_permissions_or_bind() -> None:
    user = ALICE
    pods = RoleRef("ClusterRole", "edit-pods")
    assert (
        check_binding_write(
            user, kind="RoleBinding", name="b2", namespace="team", role_ref=pods, policy=ALICE_EDITS
        )
        is None
    )
    secrets = RoleRef("ClusterRole", "secrets")
    refusal = check_binding_write(
        user, kind="RoleBinding", name="b2", namespace="team", role_ref=secrets, policy=ALICE_EDITS
    )
    assert refusal is not None
    assert refusal.message.startswith(
        'rolebindings.rbac.authorization.k8s.io "b2" is forbidden: user "alice"'
    )
    allowed_to_bind = Policy(
        cluster_roles=ALICE_EDITS.cluster_roles,
        role_bindings=(
            *ALICE_EDITS.role_bindings,
            RoleBinding("team", "x", RoleRef("ClusterRole", "binder"), (Subject("User", "alice"),)),
        ),
    )
    assert (
        check_binding_write(
            user,
            kind="RoleBinding",
            name="b2",
            namespace="team",
            role_ref=secrets,
            policy=allowed_to_bind,
        )
        is None
    )
    # bind in the namespace does not reach a ClusterRoleBinding.
    assert check_binding_write(
        user,
        kind="ClusterRoleBinding",
        name="c",
        namespace="",
        role_ref=secrets,
        policy=allowed_to_bind,
    )


def test_binding_a_missing_role_is_not_found() -> None:
    user = ALICE
    refusal = check_binding_write(
        user,
        kind="RoleBinding",
        name="b",
        namespace="team",
        role_ref=RoleRef("Role", "nope"),
        policy=ALICE_EDITS,
    )
    assert refusal is not None
    assert (refusal.code, refusal.reason) == (404, "NotFound")
    assert refusal.message == 'role.rbac.authorization.k8s.io "nope" not found'
