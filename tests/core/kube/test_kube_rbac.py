"""RBAC: rule matching (the cases of rbac_test.go's TestRuleMatches), bindings, bootstrap roles."""

from __future__ import annotations

import pytest

from podtap.core.kube.rbac import Attributes, Policy, authorize, rule_allows, rules_for
from podtap.core.kube.rbac_bootstrap import (
    bootstrap_cluster_role_bindings,
    bootstrap_cluster_roles,
    cluster_role_json,
)
from podtap.core.kube.rbac_types import (
    ClusterRole,
    ClusterRoleBinding,
    PolicyRule,
    Role,
    RoleBinding,
    RoleRef,
    Subject,
)
from podtap.core.kube.users import UserInfo

ALICE = UserInfo("alice", ("system:authenticated",))


def rule(
    verbs: str, groups: str = "", resources: str = "", names: str = "", urls: str = ""
) -> PolicyRule:
    split = lambda text: tuple(x if x != "-" else "" for x in text.split())  # noqa: E731
    return PolicyRule(split(verbs), split(groups), split(resources), split(names), split(urls))


def req(
    verb: str, resource: str, *, group: str = "", sub: str = "", name: str = "", ns: str = ""
) -> Attributes:
    return Attributes(
        ALICE, verb, api_group=group, resource=resource, subresource=sub, name=name, namespace=ns
    )


@pytest.mark.parametrize(
    ("rule_", "attrs", "allowed"),
    [
        # star verb, exact match other
        (rule("*", "-", "pods"), req("get", "pods"), True),
        (rule("*", "-", "pods"), req("get", "pods", group="apps"), False),
        # star group, exact match other
        (rule("get", "*", "pods"), req("get", "pods", group="apps"), True),
        (rule("get", "*", "pods"), req("list", "pods"), False),
        # star resource, exact match other
        (rule("get", "-", "*"), req("get", "secrets"), True),
        (rule("get", "-", "*"), req("get", "pods", sub="log"), True),
        # tuple expansion
        (
            rule("get list", "- apps", "pods deployments"),
            req("list", "deployments", group="apps"),
            True,
        ),
        # subresources need their own rule, or */sub
        (rule("get", "-", "pods"), req("get", "pods", sub="log"), False),
        (rule("get", "-", "pods/log"), req("get", "pods", sub="log"), True),
        (
            rule("update", "apps", "*/scale"),
            req("update", "deployments", group="apps", sub="scale"),
            True,
        ),
        (rule("update", "apps", "*/scale"), req("update", "deployments", group="apps"), False),
        (
            rule("update", "apps", "*/scale"),
            req("update", "deployments", group="apps", sub="status"),
            False,
        ),
        # resourceNames
        (rule("get", "-", "configmaps", names="a b"), req("get", "configmaps", name="a"), True),
        (rule("get", "-", "configmaps", names="a b"), req("get", "configmaps", name="c"), False),
        (rule("get", "-", "configmaps", names="a"), req("list", "configmaps"), False),
        (rule("get", "-", "configmaps"), req("get", "configmaps", name="anything"), True),
    ],
)
def test_rule_allows(rule_: PolicyRule, attrs: Attributes, allowed: bool) -> None:
    assert rule_allows(attrs, rule_) is allowed


@pytest.mark.parametrize(
    ("urls", "path", "allowed"),
    [
        ("*", "/anything", True),
        ("/api", "/api", True),
        ("/api", "/api/v1", False),
        ("/api/*", "/api/v1", True),
        ("/api/*", "/api", False),
        ("/api*", "/apis", True),
        ("/healthz", "/healthz/etcd", False),
    ],
)
def test_non_resource_urls(urls: str, path: str, allowed: bool) -> None:
    attrs = Attributes(ALICE, "get", resource_request=False, path=path)
    assert rule_allows(attrs, rule("get", urls=urls)) is allowed
    assert not rule_allows(
        Attributes(ALICE, "post", resource_request=False, path=path), rule("get", urls=urls)
    )


READER = Role("team", "reader", (rule("get list", "-", "pods"),))


def test_role_binding_in_its_namespace_only() -> None:
    binding = RoleBinding("team", "read", RoleRef("Role", "reader"), (Subject("User", "alice"),))
    policy = Policy(roles=(READER,), role_bindings=(binding,))
    decision = authorize(req("list", "pods", ns="team"), policy=policy)
    assert decision.allowed
    assert (
        decision.reason
        == 'RBAC: allowed by RoleBinding "read/team" of Role "reader" to User "alice"'
    )
    assert not authorize(req("list", "pods", ns="other"), policy=policy).allowed
    assert not authorize(req("list", "pods"), policy=policy).allowed


def test_rolebinding_of_a_clusterrole_is_namespaced() -> None:
    view = ClusterRole("viewer", (rule("get", "-", "pods"),))
    binding = RoleBinding(
        "team", "v", RoleRef("ClusterRole", "viewer"), (Subject("Group", "devs"),)
    )
    policy = Policy(cluster_roles=(view,), role_bindings=(binding,))
    dev = UserInfo("bob", ("devs",))
    assert authorize(
        Attributes(dev, "get", resource="pods", namespace="team"), policy=policy
    ).allowed
    assert not authorize(
        Attributes(dev, "get", resource="pods", namespace="x"), policy=policy
    ).allowed


@pytest.mark.parametrize(
    ("subject", "binding_ns", "user", "applies"),
    [
        (
            Subject("ServiceAccount", "sa", "team"),
            "",
            UserInfo("system:serviceaccount:team:sa"),
            True,
        ),
        (Subject("ServiceAccount", "sa"), "team", UserInfo("system:serviceaccount:team:sa"), True),
        (
            Subject("ServiceAccount", "sa", "other"),
            "team",
            UserInfo("system:serviceaccount:team:sa"),
            False,
        ),
        (
            Subject("Group", "system:serviceaccounts:team"),
            "",
            UserInfo("x", ("system:serviceaccounts:team",)),
            True,
        ),
        (
            Subject("Group", "system:serviceaccounts"),
            "",
            UserInfo("x", ("system:serviceaccounts",)),
            True,
        ),
        (Subject("Group", "system:authenticated"), "", ALICE, True),
        (Subject("User", "bob"), "", ALICE, False),
        (Subject("Robot", "alice"), "", ALICE, False),
    ],
)
def test_subjects(subject: Subject, binding_ns: str, user: UserInfo, applies: bool) -> None:
    role = ClusterRole("r", (rule("get", "-", "pods"),))
    if binding_ns:
        policy = Policy(
            cluster_roles=(role,),
            role_bindings=(RoleBinding(binding_ns, "b", RoleRef("ClusterRole", "r"), (subject,)),),
        )
        attrs = Attributes(user, "get", resource="pods", namespace=binding_ns)
    else:
        policy = Policy(
            cluster_roles=(role,),
            cluster_role_bindings=(
                ClusterRoleBinding("b", RoleRef("ClusterRole", "r"), (subject,)),
            ),
        )
        attrs = Attributes(user, "get", resource="pods", namespace="team")
    assert authorize(attrs, policy=policy).allowed is applies


def test_service_account_subject_in_a_cluster_binding_needs_a_namespace() -> None:
    binding = ClusterRoleBinding(
        "b", RoleRef("ClusterRole", "r"), (Subject("ServiceAccount", "sa"),)
    )
    policy = Policy(
        cluster_roles=(ClusterRole("r", (rule("*", "*", "*"),)),), cluster_role_bindings=(binding,)
    )
    assert not authorize(
        Attributes(UserInfo("system:serviceaccount:team:sa"), "get", resource="pods"), policy=policy
    ).allowed


def test_system_masters_is_always_allowed() -> None:
    root = UserInfo("root", ("system:masters",))
    assert authorize(Attributes(root, "delete", resource="nodes")).allowed
    assert authorize(Attributes(root, "delete", resource="nodes")).reason == ""


def test_missing_roles_are_named_in_the_denial() -> None:
    policy = Policy(
        role_bindings=(
            RoleBinding("team", "b", RoleRef("Role", "gone"), (Subject("User", "alice"),)),
        ),
        cluster_role_bindings=(
            ClusterRoleBinding("c", RoleRef("ClusterRole", "gone"), (Subject("User", "alice"),)),
        ),
    )
    decision = authorize(req("get", "pods", ns="team"), policy=policy)
    assert not decision.allowed
    assert decision.reason == (
        'RBAC: [clusterrole.rbac.authorization.k8s.io "gone" not found, '
        'role.rbac.authorization.k8s.io "gone" not found]'
    )
    assert rules_for(ALICE, "team", policy=policy).errors == (
        'clusterrole.rbac.authorization.k8s.io "gone" not found',
        'role.rbac.authorization.k8s.io "gone" not found',
    )


def test_authorize_takes_the_four_lists() -> None:
    decision = authorize(
        req("get", "pods", ns="team"),
        roles=[READER],
        role_bindings=[
            RoleBinding("team", "read", RoleRef("Role", "reader"), (Subject("User", "alice"),))
        ],
        cluster_roles=[],
        cluster_role_bindings=[],
    )
    assert decision.allowed


# ---- the bootstrap roles


def bound(role: str, user: UserInfo = ALICE, ns: str = "team") -> Policy:
    binding = RoleBinding(ns, "b", RoleRef("ClusterRole", role), (Subject("User", user.name),))
    return Policy(
        cluster_roles=bootstrap_cluster_roles(),
        role_bindings=(binding,),
        cluster_role_bindings=bootstrap_cluster_role_bindings(),
    )


@pytest.mark.parametrize(
    ("role", "verb", "resource", "group", "sub", "allowed"),
    [
        ("view", "get", "pods", "", "", True),
        ("view", "list", "deployments", "apps", "", True),
        ("view", "get", "pods", "", "log", True),
        ("view", "get", "secrets", "", "", False),
        ("view", "create", "pods", "", "", False),
        ("view", "create", "pods", "", "exec", False),
        ("edit", "create", "deployments", "apps", "", True),
        ("edit", "get", "secrets", "", "", True),
        ("edit", "create", "pods", "", "exec", True),
        ("edit", "get", "pods", "", "", True),
        ("edit", "create", "roles", "rbac.authorization.k8s.io", "", False),
        ("edit", "create", "rolebindings", "rbac.authorization.k8s.io", "", False),
        ("edit", "impersonate", "serviceaccounts", "", "", True),
        ("admin", "create", "roles", "rbac.authorization.k8s.io", "", True),
        ("admin", "delete", "deployments", "apps", "", True),
        ("admin", "create", "localsubjectaccessreviews", "authorization.k8s.io", "", True),
        ("admin", "create", "resourcequotas", "", "", False),
        ("cluster-admin", "escalate", "clusterroles", "rbac.authorization.k8s.io", "", True),
    ],
)
def test_bootstrap_roles(
    role: str, verb: str, resource: str, group: str, sub: str, allowed: bool
) -> None:
    attrs = req(verb, resource, group=group, sub=sub, ns="team")
    assert authorize(attrs, policy=bound(role)).allowed is allowed


def test_every_authenticated_user_may_discover_and_ask() -> None:
    policy = bound("view")
    for path in ("/api", "/apis/apps/v1", "/version", "/openapi/v2", "/healthz"):
        assert authorize(
            Attributes(ALICE, "get", resource_request=False, path=path), policy=policy
        ).allowed
    assert not authorize(
        Attributes(ALICE, "get", resource_request=False, path="/metrics"), policy=policy
    ).allowed
    ssar = req("create", "selfsubjectaccessreviews", group="authorization.k8s.io")
    assert authorize(ssar, policy=policy).allowed
    anonymous = UserInfo("system:anonymous", ("system:unauthenticated",))
    assert authorize(
        Attributes(anonymous, "get", resource_request=False, path="/version"), policy=policy
    ).allowed
    assert not authorize(
        Attributes(anonymous, "get", resource_request=False, path="/api"), policy=policy
    ).allowed


def test_bootstrap_role_json() -> None:
    roles = {role.name: role for role in bootstrap_cluster_roles()}
    view = cluster_role_json(roles["view"])
    assert view["aggregationRule"] == {
        "clusterRoleSelectors": [
            {"matchLabels": {"rbac.authorization.k8s.io/aggregate-to-view": "true"}}
        ]
    }
    assert view["metadata"]["labels"]["rbac.authorization.k8s.io/aggregate-to-edit"] == "true"
    assert ClusterRole.from_json(view).rules == roles["view"].rules
    assert cluster_role_json(roles["cluster-admin"])["rules"] == [
        {"verbs": ["*"], "apiGroups": ["*"], "resources": ["*"]},
        {"verbs": ["*"], "nonResourceURLs": ["*"]},
    ]
