"""Server-side apply and managedFields, as `kubectl apply --server-side` and helm 4 meet them."""

from __future__ import annotations

import copy
from typing import Any

import pytest

from podtap.core.kube.apply import (
    conflict_status,
    manager_for,
    record_update,
    server_side_apply,
)
from podtap.core.kube.fieldset import FieldSet
from podtap.core.kube.patch import PatchError
from podtap.core.kube.patch_schema import type_from_openapi

T0, T1, T2, T3 = (f"2026-01-01T00:0{i}:00Z" for i in range(4))


def manifest(replicas: int = 2, image: str = "nginx:1.25") -> dict[str, Any]:
    return {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {"name": "web", "namespace": "default", "labels": {"app": "web"}},
        "spec": {
            "replicas": replicas,
            "selector": {"matchLabels": {"app": "web"}},
            "template": {
                "metadata": {"labels": {"app": "web"}},
                "spec": {
                    "containers": [
                        {"name": "nginx", "image": image, "ports": [{"containerPort": 80}]}
                    ]
                },
            },
        },
    }


def entries(obj: dict[str, Any]) -> list[tuple[str, str, str | None]]:
    return [(e["manager"], e["operation"], e.get("time")) for e in obj["metadata"]["managedFields"]]


def fields_of(obj: dict[str, Any], manager: str) -> dict[str, Any]:
    for e in obj["metadata"]["managedFields"]:
        if e["manager"] == manager:
            fields: dict[str, Any] = e["fieldsV1"]
            return fields
    raise AssertionError(f"no entry for {manager}")


def test_create_records_the_fields_as_a_real_server_does() -> None:
    result = server_side_apply(None, manifest(), manager="kubectl", force=False, now=T0)
    assert not result.conflicts
    assert result.object["spec"]["replicas"] == 2
    (entry,) = result.object["metadata"]["managedFields"]
    assert entry == {
        "manager": "kubectl",
        "operation": "Apply",
        "apiVersion": "apps/v1",
        "time": T0,
        "fieldsType": "FieldsV1",
        "fieldsV1": {
            "f:metadata": {"f:labels": {"f:app": {}}},
            "f:spec": {
                "f:replicas": {},
                "f:selector": {},
                "f:template": {
                    "f:metadata": {"f:labels": {"f:app": {}}},
                    "f:spec": {
                        "f:containers": {
                            'k:{"name":"nginx"}': {
                                ".": {},
                                "f:image": {},
                                "f:name": {},
                                "f:ports": {
                                    'k:{"containerPort":80,"protocol":"TCP"}': {
                                        ".": {},
                                        "f:containerPort": {},
                                    }
                                },
                            }
                        }
                    },
                },
            },
        },
    }


def test_reapplying_the_same_manifest_changes_nothing() -> None:
    first = server_side_apply(None, manifest(), manager="helm", force=False, now=T0).object
    again = server_side_apply(first, manifest(), manager="helm", force=False, now=T1)
    assert not again.changed
    assert again.object == first, "same object, same managedFields time"


def test_client_side_apply_owner_conflicts_on_a_changed_field() -> None:
    """`kubectl apply` (client-side) then `kubectl apply --server-side` with new replicas."""
    created = record_update(None, manifest(), manager="kubectl-client-side-apply", now=T0)
    assert entries(created) == [("kubectl-client-side-apply", "Update", T0)]
    assert fields_of(created, "kubectl-client-side-apply")["f:metadata"] == {
        "f:labels": {".": {}, "f:app": {}}
    }
    result = server_side_apply(
        created, manifest(replicas=3), manager="kubectl", force=False, now=T1
    )
    assert result.object == created
    status = conflict_status(result.conflicts)
    assert status == {
        "kind": "Status",
        "apiVersion": "v1",
        "metadata": {},
        "status": "Failure",
        "message": 'Apply failed with 1 conflict: conflict with "kubectl-client-side-apply" '
        "using apps/v1: .spec.replicas",
        "reason": "Conflict",
        "code": 409,
        "details": {
            "causes": [
                {
                    "reason": "FieldManagerConflict",
                    "message": 'conflict with "kubectl-client-side-apply" using apps/v1',
                    "field": ".spec.replicas",
                }
            ]
        },
    }


def test_same_values_are_shared_without_conflict() -> None:
    created = record_update(None, manifest(), manager="kubectl-client-side-apply", now=T0)
    shared = server_side_apply(created, manifest(), manager="kubectl", force=False, now=T1)
    assert not shared.conflicts
    assert [m for m, _, _ in entries(shared.object)] == ["kubectl", "kubectl-client-side-apply"]
    assert "f:replicas" in fields_of(shared.object, "kubectl-client-side-apply")["f:spec"]


def test_force_takes_ownership() -> None:
    created = record_update(None, manifest(), manager="kubectl-client-side-apply", now=T0)
    forced = server_side_apply(created, manifest(replicas=3), manager="kubectl", force=True, now=T1)
    assert forced.object["spec"]["replicas"] == 3
    assert "f:replicas" not in fields_of(forced.object, "kubectl-client-side-apply")["f:spec"]
    assert "f:replicas" in fields_of(forced.object, "kubectl")["f:spec"]


def test_two_appliers_conflict_and_the_message_names_the_applier() -> None:
    first = server_side_apply(None, manifest(), manager="helm", force=False, now=T0).object
    result = server_side_apply(
        first, manifest(image="nginx:1.27"), manager="kubectl", force=False, now=T1
    )
    assert [(c.manager, c.field) for c in result.conflicts] == [
        ('"helm"', '.spec.template.spec.containers[name="nginx"].image')
    ]


def test_several_conflicts_are_grouped_by_manager() -> None:
    first = server_side_apply(None, manifest(), manager="helm", force=False, now=T0).object
    result = server_side_apply(
        first, manifest(replicas=5, image="x"), manager="kubectl", force=False, now=T1
    )
    assert conflict_status(result.conflicts)["message"] == (
        'Apply failed with 2 conflicts: conflicts with "helm":\n'
        '- .spec.replicas\n- .spec.template.spec.containers[name="nginx"].image'
    )


def test_kubectl_scale_then_apply_without_replicas_keeps_them() -> None:
    """Dropping a field from the manifest removes it, unless someone else owns it now."""
    applied = server_side_apply(None, manifest(), manager="kubectl", force=False, now=T0).object
    scaled = copy.deepcopy(applied)
    scaled["spec"]["replicas"] = 5
    scaled = record_update(applied, scaled, manager="kubectl-scale", now=T1)
    assert entries(scaled) == [("kubectl", "Apply", T0), ("kubectl-scale", "Update", T1)]
    without = manifest()
    del without["spec"]["replicas"]
    result = server_side_apply(scaled, without, manager="kubectl", force=False, now=T2)
    assert not result.conflicts
    assert result.object["spec"]["replicas"] == 5


def test_fields_no_longer_applied_are_removed() -> None:
    cm = {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "c"}}
    v1 = server_side_apply(
        None, {**cm, "data": {"a": "1", "b": "2"}}, manager="helm", force=False, now=T0
    )
    v2 = server_side_apply(
        v1.object, {**cm, "data": {"a": "1"}}, manager="helm", force=False, now=T1
    )
    assert v2.object["data"] == {"a": "1"}
    assert fields_of(v2.object, "helm") == {"f:data": {"f:a": {}}}
    assert entries(v2.object) == [("helm", "Apply", T1)]


def test_a_removed_container_goes_with_its_fields() -> None:
    two = manifest()
    two["spec"]["template"]["spec"]["containers"].append({"name": "log", "image": "busybox"})
    v1 = server_side_apply(None, two, manager="helm", force=False, now=T0).object
    v2 = server_side_apply(v1, manifest(), manager="helm", force=False, now=T1).object
    assert [c["name"] for c in v2["spec"]["template"]["spec"]["containers"]] == ["nginx"]


def test_update_takes_fields_from_the_applier() -> None:
    """`kubectl set image` after a server-side apply: the image moves to kubectl-set."""
    applied = server_side_apply(None, manifest(), manager="kubectl", force=False, now=T0).object
    new = copy.deepcopy(applied)
    new["spec"]["template"]["spec"]["containers"][0]["image"] = "nginx:1.27"
    updated = record_update(applied, new, manager="kubectl-set", now=T1)
    nginx = 'k:{"name":"nginx"}'
    assert fields_of(updated, "kubectl-set") == {
        "f:spec": {"f:template": {"f:spec": {"f:containers": {nginx: {"f:image": {}}}}}}
    }
    kubectl = fields_of(updated, "kubectl")["f:spec"]["f:template"]["f:spec"]["f:containers"]
    assert "f:image" not in kubectl[nginx]
    back = server_side_apply(updated, manifest(), manager="kubectl", force=False, now=T2)
    assert [c.manager for c in back.conflicts] == ['"kubectl-set" using apps/v1']


def test_an_update_that_changes_only_metadata_bookkeeping_records_nothing() -> None:
    applied = server_side_apply(None, manifest(), manager="kubectl", force=False, now=T0).object
    bumped = copy.deepcopy(applied)
    bumped["metadata"]["resourceVersion"] = "42"
    assert entries(record_update(applied, bumped, manager="kube-controller-manager", now=T1)) == [
        ("kubectl", "Apply", T0)
    ]


def test_status_is_not_owned_by_writes_to_the_main_resource() -> None:
    with_status = {**manifest(), "status": {"replicas": 9}}
    result = server_side_apply(None, with_status, manager="kubectl", force=False, now=T0)
    assert "status" not in result.object
    assert "f:status" not in fields_of(result.object, "kubectl")


def test_managed_fields_sent_by_the_client_win_over_the_live_ones() -> None:
    """kubectl moves client-side-apply ownership to its applier by rewriting managedFields."""
    created = record_update(None, manifest(), manager="kubectl-client-side-apply", now=T0)
    moved = copy.deepcopy(created)
    entry = moved["metadata"]["managedFields"][0]
    entry.update(manager="kubectl", operation="Apply")
    kept = record_update(created, moved, manager="kubectl", now=T1)
    assert entries(kept) == [("kubectl", "Apply", T0)]


def test_custom_resources_apply_with_their_crd_schema() -> None:
    schema = type_from_openapi(
        {
            "type": "object",
            "properties": {
                "spec": {
                    "type": "object",
                    "properties": {
                        "ports": {
                            "type": "array",
                            "x-kubernetes-list-type": "map",
                            "x-kubernetes-list-map-keys": ["port"],
                            "items": {
                                "type": "object",
                                "properties": {"port": {"type": "integer"}},
                            },
                        },
                        "tags": {"type": "array", "x-kubernetes-list-type": "set"},
                        "args": {"type": "array", "items": {"type": "string"}},
                    },
                }
            },
        }
    )
    cr = {
        "apiVersion": "operator.podtap.dev/v1",
        "kind": "Session",
        "metadata": {"name": "s"},
        "spec": {"ports": [{"port": 80}], "tags": ["a"], "args": ["x"]},
    }
    out = server_side_apply(None, cr, manager="podtap", force=False, now=T0, schema=schema).object
    assert fields_of(out, "podtap") == {
        "f:spec": {
            "f:args": {},
            "f:ports": {'k:{"port":80}': {".": {}, "f:port": {}}},
            "f:tags": {'v:"a"': {}},
        }
    }


def test_apply_needs_a_field_manager() -> None:
    with pytest.raises(PatchError) as err:
        server_side_apply(None, manifest(), manager="", force=False, now=T0)
    assert err.value.code == 400


def test_manager_from_field_manager_or_user_agent() -> None:
    assert manager_for("helm", "Helm/4.3.1") == "helm"
    assert manager_for(None, "kubectl/v1.37.1 (linux/amd64) kubernetes/abcdef0") == "kubectl"
    assert manager_for("", "Go-http-client/1.1") == "Go-http-client"
    assert len(manager_for(None, "x" * 300)) == 128


def test_fields_v1_round_trip_keeps_real_world_bytes() -> None:
    raw = {
        "f:metadata": {
            "f:annotations": {
                ".": {},
                "f:deployment.kubernetes.io/revision": {},
            },
            "f:finalizers": {'v:"example.com/a"': {}, ".": {}},
        },
        "f:spec": {
            "f:template": {
                "f:spec": {
                    "f:containers": {
                        'k:{"name":"a\\u003cb"}': {".": {}, "f:env": {'k:{"name":"X"}': {}}},
                    }
                }
            }
        },
        "x:unknown": {},
    }
    out = FieldSet.from_fields_v1(raw).to_fields_v1()
    del raw["x:unknown"]
    raw["f:metadata"]["f:finalizers"] = {".": {}, 'v:"example.com/a"': {}}
    assert out == raw
    assert list(out["f:metadata"]["f:finalizers"]) == [".", 'v:"example.com/a"']
