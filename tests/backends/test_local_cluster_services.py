"""The pure parts of in-cluster access, endpoints and aggregation (no node, no sockets)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from aiohttp.test_utils import make_mocked_request

from podtap.backends.local.endpoints import endpoints_object, slice_object
from podtap.backends.local.kubeapi.aggregated_discovery import (
    aggregated_resources,
    merge_aggregated,
    merge_legacy,
)
from podtap.backends.local.kubeapi.aggregation import attributes, remote_headers
from podtap.backends.local.kubeapi.auth import Identity
from podtap.backends.local.kubeapi.serviceaccounts import SA_DIR, account_identity, admit_pod
from podtap.backends.local.manifests import Secret, Service
from podtap.backends.local.models import PodSpec
from podtap.backends.local.podconfig import PodConfigError, volume_mounts
from podtap.backends.local.sandbox import Mount
from podtap.backends.local.services import service_env, service_rules

SERVICE = {
    "metadata": {"name": "web", "namespace": "shop", "uid": "u-svc"},
    "spec": {
        "selector": {"app": "web"},
        "ports": [{"name": "http", "port": 80, "targetPort": "http"}],
    },
}


def _pod(name: str, ip: str, *, ready: bool, app: str = "web", ns: str = "shop") -> dict[str, Any]:
    return {
        "metadata": {"name": name, "namespace": ns, "uid": f"u-{name}", "labels": {"app": app}},
        "spec": {"containers": [{"name": "c", "ports": [{"name": "http", "containerPort": 8080}]}]},
        "status": {
            "podIP": ip,
            "conditions": [{"type": "Ready", "status": "True" if ready else "False"}],
        },
    }


def test_endpoints_split_ready_and_not_ready_and_resolve_named_ports() -> None:
    pods = [
        _pod("a", "10.244.0.3", ready=True),
        _pod("b", "10.244.0.4", ready=False),
        _pod("other", "10.244.0.5", ready=True, app="db"),
        _pod("elsewhere", "10.244.0.6", ready=True, ns="default"),
    ]
    (subset,) = endpoints_object(SERVICE, pods)["subsets"]
    assert [a["ip"] for a in subset["addresses"]] == ["10.244.0.3"]
    assert [a["ip"] for a in subset["notReadyAddresses"]] == ["10.244.0.4"]
    assert subset["ports"] == [{"port": 8080, "protocol": "TCP", "name": "http"}]
    slice_ = slice_object(SERVICE, pods)
    assert slice_["metadata"]["labels"]["kubernetes.io/service-name"] == "web"
    assert [(e["addresses"], e["conditions"]["ready"]) for e in slice_["endpoints"]] == [
        (["10.244.0.3"], True),
        (["10.244.0.4"], False),
    ]
    assert slice_["metadata"]["ownerReferences"][0]["uid"] == "u-svc"


def test_a_service_without_pods_has_no_subsets() -> None:
    assert "subsets" not in endpoints_object(SERVICE, [])
    assert slice_object(SERVICE, [])["endpoints"] == []


def _kubernetes() -> Service:
    return Service.model_validate(
        {
            "metadata": {"name": "kubernetes", "namespace": "default"},
            "spec": {"clusterIP": "10.96.0.1", "ports": [{"port": 443, "targetPort": 6443}]},
        }
    )


def test_the_kubernetes_service_goes_to_the_node_and_is_in_every_namespace() -> None:
    (rule,) = service_rules([_kubernetes()], [])
    assert (rule.vip, rule.port, rule.endpoints) == ("10.96.0.1", 443, (("10.244.0.1", 6443),))
    env = service_env([_kubernetes()], "shop")
    assert env == {"KUBERNETES_SERVICE_HOST": "10.96.0.1", "KUBERNETES_SERVICE_PORT": "443"}


def test_admission_names_the_account_and_mounts_its_token_once() -> None:
    pod: dict[str, Any] = {"metadata": {"name": "p"}, "spec": {"containers": [{"name": "c"}]}}
    admit_pod("Pod", pod)
    spec = pod["spec"]
    assert spec["serviceAccountName"] == "default"
    (volume,) = spec["volumes"]
    assert volume["name"].startswith("kube-api-access-") and len(volume["name"]) == 21
    sources = volume["projected"]["sources"]
    assert [next(iter(s)) for s in sources] == ["serviceAccountToken", "configMap", "downwardAPI"]
    mount = {"name": volume["name"], "mountPath": SA_DIR, "readOnly": True}
    assert spec["containers"][0]["volumeMounts"] == [mount]
    admit_pod("Pod", pod)  # an update: nothing added twice
    assert len(spec["volumes"]) == 1 and spec["containers"][0]["volumeMounts"] == [mount]


def test_admission_honours_opting_out() -> None:
    pod: dict[str, Any] = {
        "metadata": {"name": "p"},
        "spec": {
            "serviceAccountName": "robot",
            "automountServiceAccountToken": False,
            "containers": [{"name": "c"}],
        },
    }
    admit_pod("Pod", pod)
    assert pod["spec"]["serviceAccount"] == "robot" and "volumes" not in pod["spec"]


def test_a_service_account_is_a_user_in_its_groups() -> None:
    who = account_identity("shop", "robot")
    assert who.user == "system:serviceaccount:shop:robot"
    assert who.groups == (
        "system:serviceaccounts",
        "system:serviceaccounts:shop",
        "system:authenticated",
    )


@pytest.mark.parametrize(
    ("method", "path", "expected"),
    [
        ("GET", "/apis/demo.dev/v1/namespaces/ns/widgets", ("list", "widgets", "", "ns", "")),
        (
            "GET",
            "/apis/demo.dev/v1/namespaces/ns/widgets?watch=true",
            ("watch", "widgets", "", "ns", ""),
        ),
        ("GET", "/apis/demo.dev/v1/namespaces/ns/widgets/w1", ("get", "widgets", "w1", "ns", "")),
        (
            "PUT",
            "/apis/demo.dev/v1/namespaces/ns/widgets/w1/status",
            ("update", "widgets", "w1", "ns", "status"),
        ),
        ("DELETE", "/apis/demo.dev/v1/gadgets", ("deletecollection", "gadgets", "", "", "")),
        ("POST", "/apis/demo.dev/v1/gadgets", ("create", "gadgets", "", "", "")),
        ("GET", "/apis/demo.dev/v1/namespaces/ns", ("get", "namespaces", "ns", "ns", "")),
    ],
)
def test_rbac_attributes_of_aggregated_requests(
    method: str, path: str, expected: tuple[str, ...]
) -> None:
    attrs = attributes(Identity("alice"), make_mocked_request(method, path))
    assert (attrs.verb, attrs.resource, attrs.name, attrs.namespace, attrs.subresource) == expected
    assert (attrs.api_group, attrs.api_version) == ("demo.dev", "v1")


def test_the_identity_travels_in_request_headers() -> None:
    who = Identity("alice", ("dev", "system:authenticated"), {"scopes.example/x y": ("a", "b")})
    assert remote_headers(who) == [
        ("X-Remote-User", "alice"),
        ("X-Remote-Group", "dev"),
        ("X-Remote-Group", "system:authenticated"),
        ("X-Remote-Extra-scopes.example%2Fx%20y", "a"),
        ("X-Remote-Extra-scopes.example%2Fx%20y", "b"),
    ]


APISERVICE = {"spec": {"group": "demo.dev", "version": "v1", "service": {"name": "d"}}}
RESOURCES = {
    "resources": [
        {
            "name": "widgets",
            "singularName": "widget",
            "namespaced": True,
            "kind": "Widget",
            "verbs": ["get"],
        },
        {"name": "widgets/status", "kind": "Widget", "verbs": ["get", "patch"]},
    ]
}


def test_discovery_merges_aggregated_groups() -> None:
    legacy = merge_legacy({"groups": [{"name": "apps"}]}, {"demo.dev": [APISERVICE]})
    gv = {"groupVersion": "demo.dev/v1", "version": "v1"}
    assert legacy["groups"][1] == {"name": "demo.dev", "versions": [gv], "preferredVersion": gv}
    doc = merge_aggregated(
        {"items": []}, {"demo.dev": [APISERVICE]}, {("demo.dev", "v1"): RESOURCES}
    )
    (version,) = doc["items"][0]["versions"]
    (widgets,) = version["resources"]
    assert version["freshness"] == "Current" and widgets["scope"] == "Namespaced"
    assert widgets["subresources"][0]["subresource"] == "status"
    stale = merge_aggregated({"items": []}, {"demo.dev": [APISERVICE]}, {})
    assert stale["items"][0]["versions"][0] == {
        "version": "v1",
        "resources": [],
        "freshness": "Stale",
    }
    assert aggregated_resources({}) == []


def _token_lookup(kind: str, namespace: str, name: str) -> object | None:
    if (kind, namespace, name) != ("Secret", "shop", "robot-token"):
        return None
    data = {"token": "dG9r", "ca.crt": "Q0E=", "namespace": "c2hvcA=="}
    return Secret.model_validate({"metadata": {"name": name, "namespace": namespace}, "data": data})


def _files(mounts: list[Mount]) -> dict[str, dict[str, str]]:
    return {
        m.target: {p.name: p.read_text() for p in sorted(m.source.iterdir())}
        for m in mounts
        if m.read_only
    }


def test_the_token_volume_holds_the_accounts_token_ca_and_namespace(tmp_path: Path) -> None:
    pod: dict[str, Any] = {
        "metadata": {"name": "p"},
        "spec": {"serviceAccountName": "robot", "containers": [{"name": "c", "command": ["x"]}]},
    }
    admit_pod("Pod", pod)
    spec = PodSpec.model_validate(pod["spec"])
    mounts = volume_mounts(
        spec, spec.containers[0], lookup=_token_lookup, namespace="shop", directory=tmp_path
    )
    assert _files(mounts) == {SA_DIR: {"ca.crt": "CA", "namespace": "shop", "token": "tok"}}


def test_a_pod_stored_without_the_volume_gets_it_all_the_same(tmp_path: Path) -> None:
    spec = PodSpec.model_validate(
        {"serviceAccountName": "robot", "containers": [{"name": "c", "command": ["x"]}]}
    )
    mounts = volume_mounts(
        spec, spec.containers[0], lookup=_token_lookup, namespace="shop", directory=tmp_path
    )
    assert _files(mounts)[SA_DIR]["token"] == "tok"
    opted_out = spec.model_copy(update={"automount_service_account_token": False})
    assert (
        volume_mounts(
            opted_out,
            spec.containers[0],
            lookup=_token_lookup,
            namespace="shop",
            directory=tmp_path,
        )
        == []
    )


def test_a_missing_token_keeps_the_pod_waiting(tmp_path: Path) -> None:
    spec = PodSpec.model_validate({"containers": [{"name": "c", "command": ["x"]}]})
    with pytest.raises(PodConfigError, match="Secret shop/default-token not found"):
        volume_mounts(
            spec, spec.containers[0], lookup=_token_lookup, namespace="shop", directory=tmp_path
        )
