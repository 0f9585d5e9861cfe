"""Access reviews (kubectl auth can-i), impersonation (kubectl --as) and the Forbidden message."""

from __future__ import annotations

import pytest

from podtap.core.kube.access_reviews import (
    self_subject_access_review,
    self_subject_rules_review,
    subject_access_review,
)
from podtap.core.kube.forbidden import forbidden_message, request_forbidden
from podtap.core.kube.impersonation import impersonate, impersonation_requests
from podtap.core.kube.rbac import Attributes, Policy
from podtap.core.kube.rbac_bootstrap import bootstrap_cluster_role_bindings, bootstrap_cluster_roles
from podtap.core.kube.rbac_types import (
    ClusterRole,
    ClusterRoleBinding,
    PolicyRule,
    RoleBinding,
    RoleRef,
    Subject,
)
from podtap.core.kube.refusal import Refusal
from podtap.core.kube.users import UserInfo

ALICE = UserInfo("alice", ("system:authenticated",))
ROOT = UserInfo("admin", ("system:masters", "system:authenticated"))


def policy(*bindings: RoleBinding, extra: tuple[ClusterRole, ...] = ()) -> Policy:
    return Policy(
        cluster_roles=(*bootstrap_cluster_roles(), *extra),
        role_bindings=bindings,
        cluster_role_bindings=bootstrap_cluster_role_bindings(),
    )


VIEWER = policy(
    RoleBinding(
        "default", "alice-view", RoleRef("ClusterRole", "view"), (Subject("User", "alice"),)
    )
)


def ssar(verb: str, resource: str, namespace: str = "default", **more: str) -> dict[str, object]:
    return {
        "spec": {
            "resourceAttributes": {
                "verb": verb,
                "resource": resource,
                "namespace": namespace,
                **more,
            }
        }
    }


# ---- the Forbidden message


@pytest.mark.parametrize(
    ("attrs", "message"),
    [
        (
            Attributes(ALICE, "list", resource="pods", namespace="default"),
            'pods is forbidden: User "alice" cannot list resource "pods" in API group "" in the namespace "default"',  # noqa: E501
        ),
        (
            Attributes(ALICE, "get", resource="pods", name="web-1", namespace="default"),
            'pods "web-1" is forbidden: User "alice" cannot get resource "pods" in API group "" in the namespace "default"',  # noqa: E501
        ),
        (
            Attributes(ALICE, "list", api_group="apps", resource="deployments"),
            'deployments.apps is forbidden: User "alice" cannot list resource "deployments" in API group "apps" at the cluster scope',  # noqa: E501
        ),
        (
            Attributes(
                ALICE, "create", resource="pods", subresource="exec", name="p", namespace="ns"
            ),
            'pods "p" is forbidden: User "alice" cannot create resource "pods/exec" in API group "" in the namespace "ns"',  # noqa: E501
        ),
        (
            Attributes(ALICE, "get", resource_request=False, path="/metrics"),
            'forbidden: User "alice" cannot get path "/metrics"',
        ),
    ],
)
def test_forbidden_message(attrs: Attributes, message: str) -> None:
    refusal = request_forbidden(attrs)
    assert refusal.message == message
    assert refusal.code == 403
    assert refusal.status()["reason"] == "Forbidden"


def test_forbidden_status_body() -> None:
    body = request_forbidden(Attributes(ALICE, "get", resource_request=False, path="/")).status()
    assert body == {
        "kind": "Status",
        "apiVersion": "v1",
        "metadata": {},
        "status": "Failure",
        "message": 'forbidden: User "alice" cannot get path "/"',
        "reason": "Forbidden",
        "details": {},
        "code": 403,
    }
    body = request_forbidden(
        Attributes(ALICE, "get", api_group="apps", resource="deployments", name="w")
    ).status()
    assert body["details"] == {"name": "w", "group": "apps", "kind": "deployments"}


def test_forbidden_reason_is_appended_and_markup_escaped() -> None:
    attrs = Attributes(UserInfo("<b>"), "get", resource="pods", namespace="x")
    assert forbidden_message(attrs).startswith('User "<b>" cannot')
    refusal = request_forbidden(attrs, 'RBAC: role.rbac.authorization.k8s.io "r" not found')
    assert refusal.message == (
        'pods is forbidden: User "&lt;b&gt;" cannot get resource "pods" in API group "" in the '
        'namespace "x": RBAC: role.rbac.authorization.k8s.io "r" not found'
    )


# ---- SelfSubjectAccessReview: kubectl auth can-i


def test_can_i_as_a_viewer() -> None:
    allowed = self_subject_access_review(ssar("get", "pods"), user=ALICE, policy=VIEWER)
    assert allowed == {
        "allowed": True,
        "reason": 'RBAC: allowed by RoleBinding "alice-view/default" of ClusterRole "view" to User "alice"',  # noqa: E501
    }
    assert self_subject_access_review(ssar("get", "secrets"), user=ALICE, policy=VIEWER) == {
        "allowed": False
    }
    assert self_subject_access_review(ssar("get", "pods", "other"), user=ALICE, policy=VIEWER) == {
        "allowed": False
    }
    assert self_subject_access_review(ssar("delete", "nodes", ""), user=ROOT, policy=VIEWER) == {
        "allowed": True
    }


def test_can_i_non_resource() -> None:
    review = {"spec": {"nonResourceAttributes": {"verb": "get", "path": "/api"}}}
    assert self_subject_access_review(review, user=ALICE, policy=VIEWER)["allowed"]
    review = {"spec": {"nonResourceAttributes": {"verb": "get", "path": "/metrics"}}}
    assert not self_subject_access_review(review, user=ALICE, policy=VIEWER)["allowed"]


def test_malformed_reviews_are_invalid() -> None:
    with pytest.raises(Refusal) as caught:
        self_subject_access_review({"spec": {}}, user=ALICE, policy=VIEWER)
    assert caught.value.code == 422
    assert caught.value.message == (
        'SelfSubjectAccessReview.authorization.k8s.io "" is invalid: spec.resourceAttributes: '
        'Invalid value: "null": exactly one of nonResourceAttributes or resourceAttributes must be specified'  # noqa: E501
    )
    with pytest.raises(Refusal) as caught:
        subject_access_review(ssar("get", "pods"), policy=VIEWER)
    assert caught.value.message == (
        'SubjectAccessReview.authorization.k8s.io "" is invalid: spec.user: Invalid value: "": '
        "at least one of user or group must be specified"
    )
    both = {
        "spec": {
            "user": "a",
            "resourceAttributes": {},
            "nonResourceAttributes": {"path": "/x", "verb": "get"},
        }
    }
    with pytest.raises(Refusal) as caught:
        subject_access_review(both, policy=VIEWER)
    assert (
        'spec.nonResourceAttributes: Invalid value: authorization.NonResourceAttributes{Path:"/x", Verb:"get"}'  # noqa: E501
        in caught.value.message
    )


def test_subject_access_review_about_another_user() -> None:
    review = ssar("list", "deployments", group="apps")
    review["spec"]["user"] = "alice"  # type: ignore[index]
    assert subject_access_review(review, policy=VIEWER)["allowed"]
    review["spec"]["user"] = "mallory"  # type: ignore[index]
    assert subject_access_review(review, policy=VIEWER) == {"allowed": False}
    review = ssar("get", "pods")
    review["spec"]["groups"] = ["system:masters"]  # type: ignore[index]
    assert subject_access_review(review, policy=VIEWER) == {"allowed": True}


def test_bad_selectors_in_a_review_are_noted() -> None:
    review = ssar("list", "pods", labelSelector={"rawSelector": "a in"})  # type: ignore[arg-type]
    status = self_subject_access_review(review, user=ALICE, policy=VIEWER)
    assert (
        status["evaluationError"]
        == "spec.resourceAttributes.labelSelector ignored due to parse error"
    )


# ---- SelfSubjectRulesReview: kubectl auth can-i --list


def test_can_i_list() -> None:
    status = self_subject_rules_review(
        {"spec": {"namespace": "default"}}, user=ALICE, policy=VIEWER
    )
    assert status["incomplete"] is False
    assert {
        "verbs": ["create"],
        "apiGroups": ["authorization.k8s.io"],
        "resources": ["selfsubjectaccessreviews", "selfsubjectrulesreviews"],
    } in status["resourceRules"]
    assert {
        "verbs": ["get"],
        "nonResourceURLs": ["/healthz", "/livez", "/readyz", "/version", "/version/"],
    } in status["nonResourceRules"]
    pods = [r for r in status["resourceRules"] if "pods" in r.get("resources", [])]
    assert pods and all(r["verbs"] == ["get", "list", "watch"] for r in pods)
    assert "evaluationError" not in status
    with pytest.raises(Refusal) as caught:
        self_subject_rules_review({"spec": {}}, user=ALICE, policy=VIEWER)
    assert (caught.value.code, caught.value.message) == (400, "no namespace on request")


def test_can_i_list_reports_missing_roles() -> None:
    broken = policy(
        RoleBinding("default", "b", RoleRef("Role", "gone"), (Subject("User", "alice"),))
    )
    status = self_subject_rules_review(
        {"spec": {"namespace": "default"}}, user=ALICE, policy=broken
    )
    assert status["evaluationError"] == 'role.rbac.authorization.k8s.io "gone" not found'


# ---- impersonation: kubectl --as


IMPERSONATOR = ClusterRole(
    "impersonator",
    (
        PolicyRule(("impersonate",), ("",), ("users",), ("bob",)),
        PolicyRule(("impersonate",), ("",), ("groups",)),
        PolicyRule(("impersonate",), ("authentication.k8s.io",), ("userextras/scopes", "uids")),
    ),
)
SA_IMPERSONATOR = ClusterRole(
    "sa-impersonator", (PolicyRule(("impersonate",), ("",), ("serviceaccounts",)),)
)
ALICE_MAY = policy(
    RoleBinding(
        "team", "sa", RoleRef("ClusterRole", "sa-impersonator"), (Subject("User", "alice"),)
    ),
    extra=(IMPERSONATOR, SA_IMPERSONATOR),
)


def with_impersonator() -> Policy:
    binding = ClusterRoleBinding(
        "imp", RoleRef("ClusterRole", "impersonator"), (Subject("User", "alice"),)
    )
    return Policy(
        cluster_roles=ALICE_MAY.cluster_roles,
        role_bindings=ALICE_MAY.role_bindings,
        cluster_role_bindings=(*ALICE_MAY.cluster_role_bindings, binding),
    )


def test_no_headers_no_impersonation() -> None:
    assert impersonate(ALICE, [("Accept", "application/json")], policy=VIEWER) is None


def test_impersonating_a_user_adds_system_authenticated() -> None:
    user = impersonate(ALICE, [("Impersonate-User", "bob")], policy=with_impersonator())
    assert user == UserInfo("bob", ("system:authenticated",))


def test_impersonating_groups_extras_and_uid() -> None:
    headers = [
        ("impersonate-user", "bob"),
        ("Impersonate-Group", "devs"),
        ("Impersonate-Group", "ops"),
        ("Impersonate-Extra-Scopes", "view"),
        ("Impersonate-Extra-Scopes", "edit"),
        ("Impersonate-Uid", "1234"),
    ]
    user = impersonate(ALICE, headers, policy=with_impersonator())
    assert user == UserInfo(
        "bob", ("devs", "ops", "system:authenticated"), "1234", {"scopes": ("view", "edit")}
    )
    headers = [("Impersonate-User", "bob"), ("Impersonate-Group", "system:unauthenticated")]
    assert impersonate(ALICE, headers, policy=with_impersonator()) == UserInfo(
        "bob", ("system:unauthenticated",)
    )


def test_refused_impersonation_has_the_servers_words() -> None:
    with pytest.raises(Refusal) as caught:
        impersonate(ALICE, [("Impersonate-User", "carol")], policy=with_impersonator())
    assert caught.value.code == 403
    assert caught.value.message == (
        'users "carol" is forbidden: User "alice" cannot impersonate resource "users" in API group "" at the cluster scope'  # noqa: E501
    )
    with pytest.raises(Refusal) as caught:
        impersonate(
            ALICE,
            [("Impersonate-User", "bob"), ("Impersonate-Extra-Acme.com%2fteam", "x")],
            policy=with_impersonator(),
        )
    assert caught.value.message == (
        'userextras.authentication.k8s.io "x" is forbidden: User "alice" cannot impersonate resource '  # noqa: E501
        '"userextras/acme.com/team" in API group "authentication.k8s.io" at the cluster scope'
    )


def test_impersonating_a_service_account() -> None:
    user = impersonate(
        ALICE, [("Impersonate-User", "system:serviceaccount:team:builder")], policy=ALICE_MAY
    )
    assert user == UserInfo(
        "system:serviceaccount:team:builder",
        ("system:serviceaccounts", "system:serviceaccounts:team", "system:authenticated"),
    )
    with pytest.raises(Refusal) as caught:
        impersonate(
            ALICE, [("Impersonate-User", "system:serviceaccount:prod:builder")], policy=ALICE_MAY
        )
    assert caught.value.message == (
        'serviceaccounts "builder" is forbidden: User "alice" cannot impersonate resource '
        '"serviceaccounts" in API group "" in the namespace "prod"'
    )


def test_edit_may_impersonate_its_namespaces_service_accounts() -> None:
    editor = policy(
        RoleBinding("team", "e", RoleRef("ClusterRole", "edit"), (Subject("User", "alice"),))
    )
    user = impersonate(
        ALICE, [("Impersonate-User", "system:serviceaccount:team:default")], policy=editor
    )
    assert user is not None and user.name == "system:serviceaccount:team:default"


def test_groups_without_a_user_are_a_bad_request() -> None:
    with pytest.raises(Refusal) as caught:
        impersonation_requests([("Impersonate-Group", "devs"), ("Impersonate-Uid", "7")])
    assert (caught.value.code, caught.value.reason) == (400, "BadRequest")
    assert caught.value.message == (
        "requested [{Group  devs    } {UID  7  authentication.k8s.io/v1  }] without impersonating a user"  # noqa: E501
    )
