"""RBAC with the real kubectl: can-i as a limited user, bindings, impersonation, escalation."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from podtap.backends.local.kubeapi.app import Running
from tests.kubeapi.cli import run


def test_can_i_denied_then_allowed_by_a_role_binding(api: Running, kubectl_bin: Path) -> None:
    alice = api.kubeconfig_for(user="alice", groups=("devs",))
    no = run(kubectl_bin, api, "auth", "can-i", "list", "pods", config=alice, ok=False)
    assert (no.returncode, no.stdout) == (1, "no\n")
    denied = run(kubectl_bin, api, "get", "pods", config=alice, ok=False)
    assert denied.stderr.strip() == (
        'Error from server (Forbidden): pods is forbidden: User "alice" cannot list resource '
        '"pods" in API group "" in the namespace "default"'
    )
    run(kubectl_bin, api, "create", "role", "reader", "--verb=get,list,watch", "--resource=pods")
    run(kubectl_bin, api, "create", "rolebinding", "alice-reads", "--role=reader", "--user=alice")
    yes = run(kubectl_bin, api, "auth", "can-i", "list", "pods", config=alice)
    assert yes.stdout == "yes\n"
    assert run(kubectl_bin, api, "get", "pods", config=alice).stderr == (
        "No resources found in default namespace.\n"
    )
    elsewhere = run(kubectl_bin, api, "auth", "can-i", "list", "pods", "-n", "kube-system",
                    config=alice, ok=False)  # fmt: skip
    assert elsewhere.stdout == "no\n"
    rules = run(kubectl_bin, api, "auth", "can-i", "--list", config=alice).stdout.splitlines()
    assert rules[0].split() == ["Resources", "Non-Resource", "URLs", "Resource", "Names", "Verbs"]
    assert ["pods", "[]", "[]", "[get", "list", "watch]"] in [r.split() for r in rules]
    # The admin asks about alice (SubjectAccessReview, as a webhook or controller would).
    review = {
        "apiVersion": "authorization.k8s.io/v1",
        "kind": "SubjectAccessReview",
        "spec": {"user": "alice", "resourceAttributes": {"verb": "get", "resource": "pods",
                                                         "namespace": "default"}},
    }  # fmt: skip
    out = run(kubectl_bin, api, "create", "-f", "-", "-o", "json", stdin=json.dumps(review))
    status = json.loads(out.stdout)["status"]
    assert status == {
        "allowed": True,
        "reason": 'RBAC: allowed by RoleBinding "alice-reads/default" of Role "reader" to User '
        '"alice"',
    }


def test_impersonation_allowed_and_denied(api: Running, kubectl_bin: Path) -> None:
    # The admin (system:masters) may impersonate anyone, and then has only their rights.
    run(kubectl_bin, api, "create", "configmap", "shared")
    as_bob = run(kubectl_bin, api, "get", "cm", "--as", "bob", ok=False)
    assert as_bob.stderr.strip() == (
        'Error from server (Forbidden): configmaps is forbidden: User "bob" cannot list '
        'resource "configmaps" in API group "" in the namespace "default"'
    )
    run(kubectl_bin, api, "create", "role", "cm-reader", "--verb=get,list", "--resource=configmaps")
    run(kubectl_bin, api, "create", "rolebinding", "devs-read", "--role=cm-reader", "--group=devs")
    group = ("--as", "bob", "--as-group", "devs")
    assert run(kubectl_bin, api, "get", "cm", "shared", *group, "-o", "name").stdout == (
        "configmap/shared\n"
    )
    whoami = json.loads(run(kubectl_bin, api, "auth", "whoami", *group, "-o", "json").stdout)
    assert whoami["status"]["userInfo"] == {
        "username": "bob",
        "groups": ["devs", "system:authenticated"],
    }
    # A limited user may not impersonate until RBAC lets it.
    carol = api.kubeconfig_for(user="carol")
    refused = run(kubectl_bin, api, "get", "cm", "--as", "bob", config=carol, ok=False)
    assert refused.stderr.strip() == (
        'Error from server (Forbidden): users "bob" is forbidden: User "carol" cannot '
        'impersonate resource "users" in API group "" at the cluster scope'
    )
    run(kubectl_bin, api, "create", "clusterrole", "impersonate-bob", "--verb=impersonate",
        "--resource=users", "--resource-name=bob")  # fmt: skip
    run(kubectl_bin, api, "create", "clusterrolebinding", "carol-as-bob",
        "--clusterrole=impersonate-bob", "--user=carol")  # fmt: skip
    allowed = run(kubectl_bin, api, "auth", "whoami", "--as", "bob", "-o", "json", config=carol)
    assert json.loads(allowed.stdout)["status"]["userInfo"]["username"] == "bob"
    groups = run(kubectl_bin, api, "get", "cm", *group, config=carol, ok=False)
    assert 'groups "devs" is forbidden: User "carol" cannot impersonate resource "groups"' in (
        groups.stderr
    )


def test_escalation_and_aggregation(api: Running, kubectl_bin: Path) -> None:
    dave = api.kubeconfig_for(user="dave")
    run(kubectl_bin, api, "create", "role", "role-writer", "--verb=create,get",
        "--resource=roles.rbac.authorization.k8s.io")  # fmt: skip
    run(kubectl_bin, api, "create", "rolebinding", "dave-writes", "--role=role-writer",
        "--user=dave")  # fmt: skip
    # dave may create Roles, but not one granting what he does not hold himself.
    refused = run(kubectl_bin, api, "create", "role", "secrets", "--verb=get",
                  "--resource=secrets", config=dave, ok=False)  # fmt: skip
    assert refused.stderr.startswith(
        'Error from server (Forbidden): roles.rbac.authorization.k8s.io "secrets" is forbidden: '
        'user "dave" (groups=["system:authenticated"]) is attempting to grant RBAC permissions '
        'not currently held:\n{APIGroups:[""], Resources:["secrets"], Verbs:["get"]}'
    )
    run(kubectl_bin, api, "create", "role", "roles", "--verb=get",
        "--resource=roles.rbac.authorization.k8s.io", config=dave)  # fmt: skip
    # A ClusterRole labelled aggregate-to-view widens the bootstrap `view` at once.
    widget_viewer: dict[str, Any] = {
        "apiVersion": "rbac.authorization.k8s.io/v1",
        "kind": "ClusterRole",
        "metadata": {"name": "widget-viewer",
                     "labels": {"rbac.authorization.k8s.io/aggregate-to-view": "true"}},
        "rules": [{"apiGroups": ["example.com"], "resources": ["widgets"],
                   "verbs": ["get", "list"]}],
    }  # fmt: skip
    run(kubectl_bin, api, "apply", "-f", "-", stdin=json.dumps(widget_viewer))
    for role in ("view", "edit", "admin"):
        rules = json.loads(run(kubectl_bin, api, "get", "clusterrole", role, "-o", "json").stdout)
        assert widget_viewer["rules"][0] in rules["rules"], role
    run(kubectl_bin, api, "delete", "clusterrole", "widget-viewer")
    view = json.loads(run(kubectl_bin, api, "get", "clusterrole", "view", "-o", "json").stdout)
    assert widget_viewer["rules"][0] not in view["rules"]
