"""`podtap local apply` goes through the API's admission plugins, as a client's create and
update do (pure: the node's API state, no cluster): a Service has its cluster IP and a
StatefulSet its defaults in the write itself, a pod its service-account volume, a second
apply of the same manifest is unchanged, and a refusal is the API's one-line 422."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from podtap.backends.local.apiserve import Saver, api_app
from podtap.backends.local.kubeapi.status import ApiError
from podtap.backends.local.kubeapi.store import Key
from podtap.backends.local.manifests import parse_text
from podtap.backends.local.objects import ApiObjects
from podtap.backends.local.paths import ClusterPaths

APPS = """
apiVersion: v1
kind: Service
metadata: {name: web}
spec: {selector: {app: web}, ports: [{port: 80}]}
---
apiVersion: apps/v1
kind: StatefulSet
metadata: {name: db}
spec:
  serviceName: db
  selector: {matchLabels: {app: db}}
  template:
    metadata: {labels: {app: db}}
    spec: {containers: [{name: db, command: [sleep, "3600"]}]}
---
apiVersion: v1
kind: Pod
metadata: {name: solo}
spec: {containers: [{name: main, command: [sleep, "3600"]}]}
"""


@pytest.fixture
def objects(tmp_path: Path) -> ApiObjects:
    paths = ClusterPaths(tmp_path)
    ctx, _app = api_app(paths, Saver(paths))  # the node's API state, its admission included
    return ApiObjects(ctx)


def _stored(objects: ApiObjects, group: str, plural: str, name: str) -> dict[str, Any]:
    obj = objects.ctx.store.get(Key(group, plural, "default", name))
    assert obj is not None
    return obj


def test_apply_is_admitted_as_a_create_and_an_update(objects: ApiObjects) -> None:
    manifests = parse_text(APPS, source="apps.yaml")
    assert [objects.apply(m) for m in manifests] == ["created", "created", "created"]
    service = _stored(objects, "", "services", "web")["spec"]
    assert service["clusterIP"].startswith("10.96.") and service["clusterIPs"] == [
        service["clusterIP"]
    ]
    assert (service["sessionAffinity"], service["ports"][0]["targetPort"]) == ("None", 80)
    sts = _stored(objects, "apps", "statefulsets", "db")["spec"]
    assert sts["podManagementPolicy"] == "OrderedReady"
    assert sts["updateStrategy"] == {
        "type": "RollingUpdate",
        "rollingUpdate": {"partition": 0, "maxUnavailable": 1},
    }
    pod = _stored(objects, "", "pods", "solo")["spec"]
    assert pod["serviceAccountName"] == "default"
    assert any(v["name"].startswith("kube-api-access-") for v in pod["volumes"])
    # The same manifests again: admission fills in the same, so nothing changes.
    assert [objects.apply(m) for m in manifests] == ["unchanged", "unchanged", "unchanged"]
    assert _stored(objects, "", "services", "web")["spec"]["clusterIP"] == service["clusterIP"]


def test_a_refusal_is_the_apis_one_line(objects: ApiObjects) -> None:
    first, *_ = parse_text(APPS, source="apps.yaml")
    objects.apply(first)
    taken = _stored(objects, "", "services", "web")["spec"]["clusterIP"]
    clash = f"""
apiVersion: v1
kind: Service
metadata: {{name: other}}
spec: {{clusterIP: {taken}, ports: [{{port: 80}}]}}
"""
    with pytest.raises(ApiError) as refused:
        objects.apply(parse_text(clash, source="clash.yaml")[0])
    assert refused.value.body()["message"] == (
        f'Service "other" is invalid: spec.clusterIPs: Invalid value: []string{{"{taken}"}}: '
        f"failed to allocate IP {taken}: provided IP is already allocated"
    )
    assert objects.ctx.store.get(Key("", "services", "default", "other")) is None
