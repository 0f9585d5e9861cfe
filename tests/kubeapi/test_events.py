"""The events the cluster posts, decided from the store's changes (kubeapi/events.py), and
how `kubectl get` prints them and the other kinds with upstream's columns."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from podtap.backends.local.kubeapi.app import Running
from podtap.backends.local.kubeapi.events import Note, event_object, expired, notes
from podtap.backends.local.kubeapi.store import Event, Key
from tests.kubeapi.cli import run

RS_REF = {"apiVersion": "apps/v1", "kind": "ReplicaSet", "name": "web-1", "uid": "u-rs"}
DEPLOY_REF = {"apiVersion": "apps/v1", "kind": "Deployment", "name": "web", "uid": "u-d"}


def _pod(*, node: str = "", running: str = "", deleting: bool = False) -> dict[str, Any]:
    meta: dict[str, Any] = {"name": "web-1-a", "namespace": "shop", "uid": "u-pod"}
    meta["ownerReferences"] = [{**RS_REF, "controller": True}]
    if deleting:
        meta["deletionTimestamp"] = "2026-01-01T00:00:00Z"
    pod: dict[str, Any] = {"apiVersion": "v1", "kind": "Pod", "metadata": meta, "spec": {}}
    if node:
        pod["spec"]["nodeName"] = node
    if running:
        state = {"running": {"startedAt": running}}
        pod["status"] = {"containerStatuses": [{"name": "web", "state": state}]}
    return pod


def _said(event: Event) -> list[tuple[str, str, str]]:
    return [(n.reason, n.message, n.component) for n in notes(event)]


def _change(kind: str, obj: dict[str, Any], prev: dict[str, Any] | None = None) -> Event:
    group, plural = ("", "pods") if obj["kind"] == "Pod" else ("apps", "replicasets")
    key = Key(group, plural, "shop", obj["metadata"]["name"])
    return Event(kind, 1, key, obj, prev)  # type: ignore[arg-type]


def test_a_pod_s_life_as_scheduler_kubelet_and_replicaset_controller_tell_it() -> None:
    made = _pod(node="podtap-local")
    assert _said(_change("ADDED", made)) == [
        ("Scheduled", "Successfully assigned shop/web-1-a to podtap-local", "default-scheduler"),
        ("SuccessfulCreate", "Created pod: web-1-a", "replicaset-controller"),
    ]
    started = _pod(node="podtap-local", running="2026-01-01T00:00:01Z")
    assert _said(_change("MODIFIED", started, made)) == [
        ("Created", "Created container: web", "kubelet"),
        ("Started", "Started container web", "kubelet"),
    ]
    assert _said(_change("MODIFIED", started, started)) == []  # nothing new: nothing said
    restarted = _pod(node="podtap-local", running="2026-01-01T00:00:09Z")
    assert [r for r, _, _ in _said(_change("MODIFIED", restarted, started))] == [
        "Created",
        "Started",
    ]
    going = _pod(node="podtap-local", running="2026-01-01T00:00:09Z", deleting=True)
    assert _said(_change("MODIFIED", going, restarted)) == [
        ("Killing", "Stopping container web", "kubelet")
    ]
    assert _said(_change("DELETED", going)) == [
        ("SuccessfulDelete", "Deleted pod: web-1-a", "replicaset-controller")
    ]


def test_a_replica_set_scaled_is_told_on_its_deployment() -> None:
    def rs(replicas: int) -> dict[str, Any]:
        meta = {"name": "web-1", "namespace": "shop", "uid": "u-rs"}
        meta["ownerReferences"] = [{**DEPLOY_REF, "controller": True}]  # type: ignore[list-item]
        return {"kind": "ReplicaSet", "metadata": meta, "spec": {"replicas": replicas}}

    up = notes(_change("MODIFIED", rs(3), rs(0)))
    assert [(n.reason, n.message) for n in up] == [
        ("ScalingReplicaSet", "Scaled up replica set web-1 from 0 to 3")
    ]
    assert up[0].involved["uid"] == "u-d" and up[0].component == "deployment-controller"
    down = notes(_change("MODIFIED", rs(1), rs(3)))
    assert [n.message for n in down] == ["Scaled down replica set web-1 from 3 to 1"]
    assert notes(_change("ADDED", rs(0))) == []


def test_the_event_object_names_what_it_is_about() -> None:
    pod = _pod(node="podtap-local")
    pod["metadata"]["resourceVersion"] = "7"
    note = Note(pod, "Started", "Started container web", "kubelet", "spec.containers{web}")
    event = event_object(note, stamp="2026-01-01T00:00:01Z")
    assert event["involvedObject"] == {
        "kind": "Pod",
        "namespace": "shop",
        "name": "web-1-a",
        "uid": "u-pod",
        "apiVersion": "v1",
        "resourceVersion": "7",
        "fieldPath": "spec.containers{web}",
    }
    assert event["metadata"]["name"].startswith("web-1-a.")
    assert event["source"] == {"component": "kubelet", "host": "podtap-local"}
    assert (event["type"], event["count"], event["lastTimestamp"]) == (
        "Normal",
        1,
        "2026-01-01T00:00:01Z",
    )


EVENT = """
apiVersion: v1
kind: Event
metadata: {name: note.1, namespace: default}
involvedObject: {kind: ConfigMap, name: note, namespace: default, uid: u-1, apiVersion: v1}
reason: Noted
message: "something happened "
type: Warning
source: {component: tester}
count: 2
firstTimestamp: "2026-01-01T00:00:00Z"
lastTimestamp: "2026-01-01T00:00:00Z"
"""


REPLICA_SET = """
apiVersion: apps/v1
kind: ReplicaSet
metadata: {name: web}
spec:
  replicas: 3
  selector: {matchLabels: {app: web}}
  template:
    metadata: {labels: {app: web}}
    spec: {containers: [{name: web, image: nginx}]}
"""


def _header(kubectl: Path, api: Running, *what: str) -> list[str]:
    return run(kubectl, api, "get", *what).stdout.splitlines()[0].split()


def test_kubectl_get_prints_upstream_s_columns(api: Running, kubectl_bin: Path) -> None:
    run(kubectl_bin, api, "create", "-f", "-", stdin=EVENT)
    rows = run(kubectl_bin, api, "get", "events").stdout.splitlines()
    assert rows[0].split() == ["LAST", "SEEN", "TYPE", "REASON", "OBJECT", "MESSAGE"]
    assert rows[1].split()[1:] == ["Warning", "Noted", "configmap/note", "something", "happened"]
    wide = _header(kubectl_bin, api, "events", "-o", "wide")
    assert wide[-4:] == ["FIRST", "SEEN", "COUNT", "NAME"]
    run(kubectl_bin, api, "delete", "event", "note.1")

    run(kubectl_bin, api, "create", "serviceaccount", "bot")
    run(kubectl_bin, api, "create", "role", "reader", "--verb=get", "--resource=pods")
    run(kubectl_bin, api, "create", "rolebinding", "reader", "--role=reader", "--user=ann")
    try:
        assert _header(kubectl_bin, api, "sa", "bot") == ["NAME", "SECRETS", "AGE"]
        assert _header(kubectl_bin, api, "role", "reader") == ["NAME", "CREATED", "AT"]
        row = run(kubectl_bin, api, "get", "rolebinding", "reader", "-o", "wide").stdout
        assert row.splitlines()[1].split()[:2] == ["reader", "Role/reader"]
        assert row.splitlines()[1].split()[3] == "ann"
        assert _header(kubectl_bin, api, "clusterrolebindings")[:3] == ["NAME", "ROLE", "AGE"]
        run(kubectl_bin, api, "apply", "-f", "-", stdin=REPLICA_SET)
        rows = run(kubectl_bin, api, "get", "rs", "web", "-o", "wide").stdout.splitlines()
        assert rows[0].split() == [
            *("NAME", "DESIRED", "CURRENT", "READY", "AGE", "CONTAINERS", "IMAGES", "SELECTOR")
        ]
        assert rows[1].split()[:4] == ["web", "3", "0", "0"]
        assert rows[1].split()[5:] == ["web", "nginx", "app=web"]
    finally:
        run(kubectl_bin, api, "delete", "sa/bot", "role/reader", "rolebinding/reader")
        run(kubectl_bin, api, "delete", "rs", "web", "--ignore-not-found")


def test_events_live_an_hour_from_their_last_sighting() -> None:
    def ev(name: str, last: str) -> dict[str, Any]:
        return {"metadata": {"name": name, "namespace": "shop"}, "lastTimestamp": last}

    events = [ev("old", "2026-01-01T00:00:00Z"), ev("new", "2026-01-01T00:30:00Z")]
    now = 1767229200.0  # 2026-01-01T01:00:00Z
    assert expired(events, now=now) == [Key("", "events", "shop", "old")]
    assert expired(events, now=now - 1) == []
    assert expired(events, now=now, ttl=1800) == [
        Key("", "events", "shop", "old"),
        Key("", "events", "shop", "new"),
    ]
