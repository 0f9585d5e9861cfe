"""Strategic merge patches as kubectl 1.37 sends them, applied to real-world objects."""

from __future__ import annotations

import copy
import json
from typing import Any

import pytest

from podtap.core.kube.patch import PatchError
from podtap.core.kube.patch_schema import GroupVersionKind
from podtap.core.kube.patch_strategic import strategic_merge_patch

DEPLOYMENT = GroupVersionKind("apps", "v1", "Deployment")


def deployment() -> dict[str, Any]:
    return {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {
            "name": "web",
            "namespace": "default",
            "labels": {"app": "web"},
            "finalizers": ["example.com/a", "example.com/b"],
        },
        "spec": {
            "replicas": 2,
            "selector": {"matchLabels": {"app": "web"}},
            "strategy": {
                "type": "RollingUpdate",
                "rollingUpdate": {"maxSurge": "25%", "maxUnavailable": "25%"},
            },
            "template": {
                "metadata": {"labels": {"app": "web"}},
                "spec": {
                    "containers": [
                        {
                            "name": "nginx",
                            "image": "nginx:1.25",
                            "ports": [{"containerPort": 80, "protocol": "TCP"}],
                            "env": [{"name": "A", "value": "1"}, {"name": "B", "value": "2"}],
                            "volumeMounts": [{"name": "data", "mountPath": "/data"}],
                        },
                        {"name": "log", "image": "busybox"},
                    ],
                    "volumes": [{"name": "data", "emptyDir": {}}],
                    "tolerations": [{"key": "a", "operator": "Exists"}],
                },
            },
        },
    }


def pod_spec(obj: dict[str, Any]) -> dict[str, Any]:
    spec: dict[str, Any] = obj["spec"]["template"]["spec"]
    return spec


def names(items: list[dict[str, Any]]) -> list[str]:
    return [i["name"] for i in items]


def test_kubectl_set_image_merges_the_container_by_name() -> None:
    patch = {
        "spec": {"template": {"spec": {"containers": [{"image": "nginx:1.27", "name": "nginx"}]}}}
    }
    live = deployment()
    out = strategic_merge_patch(live, patch, kind=DEPLOYMENT)
    nginx = pod_spec(out)["containers"][0]
    assert nginx["image"] == "nginx:1.27"
    assert nginx["env"] == [{"name": "A", "value": "1"}, {"name": "B", "value": "2"}]
    assert names(pod_spec(out)["containers"]) == ["nginx", "log"]
    assert live == deployment(), "the live object is not touched"


def test_kubectl_rollout_restart_annotates_the_template() -> None:
    at = "2026-03-01T10:00:00Z"
    patch = {
        "spec": {
            "template": {"metadata": {"annotations": {"kubectl.kubernetes.io/restartedAt": at}}}
        }
    }
    out = strategic_merge_patch(deployment(), patch, kind=DEPLOYMENT)
    assert out["spec"]["template"]["metadata"] == {
        "labels": {"app": "web"},
        "annotations": {"kubectl.kubernetes.io/restartedAt": at},
    }


def test_a_new_container_lands_before_the_existing_ones_as_upstream() -> None:
    patch = {"spec": {"template": {"spec": {"containers": [{"name": "side", "image": "redis"}]}}}}
    out = strategic_merge_patch(deployment(), patch, kind=DEPLOYMENT)
    assert names(pod_spec(out)["containers"]) == ["side", "nginx", "log"]


def test_kubectl_client_side_apply_patch_with_directives() -> None:
    """The three-way patch kubectl apply computed after the manifest dropped env B, added a
    sidecar at the end, switched to Recreate and changed the last-applied annotation."""
    last_applied = json.dumps({"kind": "Deployment", "apiVersion": "apps/v1"})
    patch = {
        "metadata": {
            "annotations": {"kubectl.kubernetes.io/last-applied-configuration": last_applied}
        },
        "spec": {
            "strategy": {"$retainKeys": ["type"], "rollingUpdate": None, "type": "Recreate"},
            "template": {
                "spec": {
                    "$setElementOrder/containers": [
                        {"name": "nginx"},
                        {"name": "log"},
                        {"name": "side"},
                    ],
                    "containers": [
                        {
                            "$setElementOrder/env": [{"name": "A"}],
                            "env": [{"$patch": "delete", "name": "B"}],
                            "name": "nginx",
                        },
                        {"image": "redis", "name": "side"},
                    ],
                }
            },
        },
    }
    out = strategic_merge_patch(deployment(), patch, kind=DEPLOYMENT)
    assert out["spec"]["strategy"] == {"type": "Recreate"}
    assert names(pod_spec(out)["containers"]) == ["nginx", "log", "side"]
    assert pod_spec(out)["containers"][0]["env"] == [{"name": "A", "value": "1"}]
    assert out["metadata"]["annotations"] == {
        "kubectl.kubernetes.io/last-applied-configuration": last_applied
    }
    assert "$setElementOrder/env" not in json.dumps(out)


def test_set_element_order_reorders_without_content() -> None:
    patch = {
        "spec": {
            "template": {
                "spec": {"$setElementOrder/containers": [{"name": "log"}, {"name": "nginx"}]}
            }
        }
    }
    out = strategic_merge_patch(deployment(), patch, kind=DEPLOYMENT)
    assert names(pod_spec(out)["containers"]) == ["log", "nginx"]


def test_retain_keys_refuses_a_key_it_does_not_list() -> None:
    patch = {"spec": {"strategy": {"$retainKeys": ["type"], "rollingUpdate": {"maxSurge": 1}}}}
    with pytest.raises(PatchError) as err:
        strategic_merge_patch(deployment(), patch, kind=DEPLOYMENT)
    assert err.value.code == 400


def test_finalizers_merge_as_a_set_and_delete_from_primitive_list() -> None:
    patch = {
        "metadata": {
            "$setElementOrder/finalizers": ["example.com/b", "example.com/c"],
            "$deleteFromPrimitiveList/finalizers": ["example.com/a"],
            "finalizers": ["example.com/c"],
        }
    }
    out = strategic_merge_patch(deployment(), patch, kind=DEPLOYMENT)
    assert out["metadata"]["finalizers"] == ["example.com/b", "example.com/c"]
    again = strategic_merge_patch(
        out, {"metadata": {"finalizers": ["example.com/b"]}}, kind=DEPLOYMENT
    )
    assert again["metadata"]["finalizers"] == ["example.com/b", "example.com/c"]


def test_lists_without_a_merge_strategy_are_replaced() -> None:
    patch = {"spec": {"template": {"spec": {"tolerations": [{"key": "b", "operator": "Exists"}]}}}}
    out = strategic_merge_patch(deployment(), patch, kind=DEPLOYMENT)
    assert pod_spec(out)["tolerations"] == [{"key": "b", "operator": "Exists"}]


def test_merge_keys_other_than_name() -> None:
    patch = {
        "spec": {
            "template": {
                "spec": {
                    "containers": [
                        {
                            "name": "nginx",
                            "ports": [{"containerPort": 443}],
                            "volumeMounts": [{"mountPath": "/data", "readOnly": True}],
                        }
                    ]
                }
            }
        }
    }
    nginx = pod_spec(strategic_merge_patch(deployment(), patch, kind=DEPLOYMENT))["containers"][0]
    assert nginx["ports"] == [{"containerPort": 443}, {"containerPort": 80, "protocol": "TCP"}]
    assert nginx["volumeMounts"] == [{"name": "data", "mountPath": "/data", "readOnly": True}]


def test_service_ports_merge_by_port() -> None:
    svc = {
        "apiVersion": "v1",
        "kind": "Service",
        "metadata": {"name": "web"},
        "spec": {"ports": [{"port": 80, "targetPort": 8080}], "selector": {"app": "web"}},
    }
    patch = {"spec": {"ports": [{"port": 80, "name": "http"}, {"port": 443}]}}
    out = strategic_merge_patch(svc, patch, kind=GroupVersionKind("", "v1", "Service"))
    assert out["spec"]["ports"] == [{"port": 80, "targetPort": 8080, "name": "http"}, {"port": 443}]


def test_patch_replace_and_delete_directives() -> None:
    replace = {
        "spec": {"template": {"spec": {"containers": [{"$patch": "replace"}, {"name": "only"}]}}}
    }
    out = strategic_merge_patch(deployment(), replace, kind=DEPLOYMENT)
    assert pod_spec(out)["containers"] == [{"name": "only"}]
    labels = {"metadata": {"labels": {"$patch": "replace", "fresh": "yes"}}}
    assert strategic_merge_patch(deployment(), labels, kind=DEPLOYMENT)["metadata"]["labels"] == {
        "fresh": "yes"
    }
    delete = {"spec": {"template": {"spec": {"volumes": [{"$patch": "delete", "name": "data"}]}}}}
    assert pod_spec(strategic_merge_patch(deployment(), delete, kind=DEPLOYMENT))["volumes"] == []
    with pytest.raises(PatchError):
        bad = {"spec": {"template": {"spec": {"containers": [{"$patch": "merge", "name": "x"}]}}}}
        strategic_merge_patch(deployment(), bad, kind=DEPLOYMENT)


def test_null_deletes_and_missing_merge_key_is_refused() -> None:
    out = strategic_merge_patch(deployment(), {"spec": {"replicas": None}}, kind=DEPLOYMENT)
    assert "replicas" not in out["spec"]
    with pytest.raises(PatchError) as err:
        patch = {"spec": {"template": {"spec": {"containers": [{"image": "x"}]}}}}
        strategic_merge_patch(deployment(), patch, kind=DEPLOYMENT)
    assert "does not contain declared merge key: name" in err.value.message


def test_custom_resources_refuse_strategic_merge_patch_with_415() -> None:
    cr = {"apiVersion": "operator.podtap.dev/v1", "kind": "Session", "spec": {}}
    with pytest.raises(PatchError) as err:
        strategic_merge_patch(cr, {"spec": {"x": 1}}, kind=GroupVersionKind.of(cr))
    status = err.value.status()
    assert (status["code"], status["reason"]) == (415, "UnsupportedMediaType")
    assert status["message"] == (
        "the body of the request was in an unknown format - accepted media types include: "
        "application/json-patch+json, application/merge-patch+json, application/apply-patch+yaml"
    )


def test_config_map_and_rbac_kinds_are_known() -> None:
    cm = {"apiVersion": "v1", "kind": "ConfigMap", "data": {"a": "1"}}
    out = strategic_merge_patch(cm, {"data": {"b": "2"}}, kind=GroupVersionKind.of(cm))
    assert out["data"] == {"a": "1", "b": "2"}
    role = {
        "apiVersion": "rbac.authorization.k8s.io/v1",
        "kind": "Role",
        "rules": [{"verbs": ["get"]}],
    }
    out = strategic_merge_patch(
        role, {"rules": [{"verbs": ["list"]}]}, kind=GroupVersionKind.of(role)
    )
    assert out["rules"] == [{"verbs": ["list"]}], "rules are atomic"


def test_input_patch_is_not_mutated() -> None:
    patch = {"spec": {"strategy": {"$retainKeys": ["type"], "type": "Recreate"}}}
    kept = copy.deepcopy(patch)
    strategic_merge_patch(deployment(), patch, kind=DEPLOYMENT)
    assert patch == kept
