"""Deletion with the real kubectl: cascades, finalizers, terminating namespaces, dry runs."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from podtap.backends.local.kubeapi.app import Running
from tests.kubeapi.cli import run


def get(bin_: Path, api: Running, *what: str) -> Any:
    return json.loads(run(bin_, api, "get", *what, "-o", "json").stdout)


def names(bin_: Path, api: Running, *what: str) -> list[str]:
    return run(bin_, api, "get", *what, "-o", "name").stdout.split()


def owned(bin_: Path, api: Running, name: str, owner: Any, *, blocking: bool = False) -> None:
    """A ReplicaSet `name` whose owner is the Deployment `owner` (as the controller makes it)."""
    ref = {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "name": owner["metadata"]["name"],
        "uid": owner["metadata"]["uid"],
        "controller": True,
        "blockOwnerDeletion": blocking,
    }
    rs = {
        "apiVersion": "apps/v1",
        "kind": "ReplicaSet",
        "metadata": {"name": name, "ownerReferences": [ref]},
        "spec": {
            "selector": {"matchLabels": {"app": name}},
            "template": {
                "metadata": {"labels": {"app": name}},
                "spec": {"containers": [{"name": "c", "image": "busybox"}]},
            },
        },
    }
    run(bin_, api, "apply", "-f", "-", stdin=json.dumps(rs))


def deployment(bin_: Path, api: Running, name: str) -> Any:
    run(bin_, api, "create", "deployment", name, "--image=busybox")
    return get(bin_, api, "deploy", name)


def test_cascade_orphan_keeps_dependents_background_deletes_them(
    api: Running, kubectl_bin: Path
) -> None:
    owner = deployment(kubectl_bin, api, "keep")
    owned(kubectl_bin, api, "keep-rs", owner)
    out = run(kubectl_bin, api, "delete", "deploy", "keep", "--cascade=orphan").stdout
    assert out == 'deployment.apps "keep" deleted from default namespace\n'
    orphan = get(kubectl_bin, api, "rs", "keep-rs")
    assert "ownerReferences" not in orphan["metadata"]

    owner = deployment(kubectl_bin, api, "drop")
    owned(kubectl_bin, api, "drop-rs", owner)
    run(kubectl_bin, api, "delete", "deploy", "drop")  # --cascade=background, the default
    assert names(kubectl_bin, api, "rs") == ["replicaset.apps/keep-rs"]
    run(kubectl_bin, api, "delete", "rs", "keep-rs")


def test_finalizers_hold_an_object_until_removed(api: Running, kubectl_bin: Path) -> None:
    run(kubectl_bin, api, "create", "configmap", "held")
    hold = '{"metadata":{"finalizers":["example.com/hold"]}}'
    run(kubectl_bin, api, "patch", "cm", "held", "--type=merge", "-p", hold)
    run(kubectl_bin, api, "delete", "cm", "held", "--wait=false")
    kept = get(kubectl_bin, api, "cm", "held")["metadata"]
    assert kept["deletionTimestamp"] and kept["finalizers"] == ["example.com/hold"]
    more = '{"metadata":{"finalizers":["example.com/hold","example.com/more"]}}'
    refused = run(kubectl_bin, api, "patch", "cm", "held", "--type=merge", "-p", more, ok=False)
    assert "no new finalizers can be added if the object is being deleted" in refused.stderr
    run(kubectl_bin, api, "patch", "cm", "held", "--type=json",
        "-p", '[{"op":"remove","path":"/metadata/finalizers"}]')  # fmt: skip
    assert "configmap/held" not in names(kubectl_bin, api, "cm")


def test_foreground_waits_for_blocking_dependents(api: Running, kubectl_bin: Path) -> None:
    owner = deployment(kubectl_bin, api, "fg")
    owned(kubectl_bin, api, "fg-rs", owner, blocking=True)
    hold = '{"metadata":{"finalizers":["example.com/hold"]}}'
    run(kubectl_bin, api, "patch", "rs", "fg-rs", "--type=merge", "-p", hold)
    run(kubectl_bin, api, "delete", "deploy", "fg", "--cascade=foreground", "--wait=false")
    meta = get(kubectl_bin, api, "deploy", "fg")["metadata"]
    assert meta["finalizers"] == ["foregroundDeletion"] and meta["deletionTimestamp"]
    assert get(kubectl_bin, api, "rs", "fg-rs")["metadata"]["deletionTimestamp"]
    run(kubectl_bin, api, "patch", "rs", "fg-rs", "--type=merge",
        "-p", '{"metadata":{"finalizers":null}}')  # fmt: skip
    assert names(kubectl_bin, api, "deploy,rs") == []


def test_namespace_terminates_then_goes(api: Running, kubectl_bin: Path) -> None:
    run(kubectl_bin, api, "create", "namespace", "doomed")
    run(kubectl_bin, api, "create", "configmap", "free", "-n", "doomed")
    run(kubectl_bin, api, "create", "configmap", "held", "-n", "doomed")
    hold = '{"metadata":{"finalizers":["example.com/hold"]}}'
    run(kubectl_bin, api, "patch", "cm", "held", "-n", "doomed", "--type=merge", "-p", hold)
    run(kubectl_bin, api, "delete", "namespace", "doomed", "--wait=false")
    rows = run(kubectl_bin, api, "get", "ns", "doomed").stdout.splitlines()
    assert rows[1].split()[:2] == ["doomed", "Terminating"]
    assert names(kubectl_bin, api, "cm", "-n", "doomed") == ["configmap/held"]
    refused = run(kubectl_bin, api, "create", "configmap", "late", "-n", "doomed", ok=False)
    assert refused.stderr.strip().endswith(
        'configmaps "late" is forbidden: unable to create new content in namespace doomed '
        "because it is being terminated"
    )
    run(kubectl_bin, api, "patch", "cm", "held", "-n", "doomed", "--type=merge",
        "-p", '{"metadata":{"finalizers":null}}')  # fmt: skip
    gone = run(kubectl_bin, api, "get", "ns", "doomed", ok=False)
    assert gone.stderr.strip() == 'Error from server (NotFound): namespaces "doomed" not found'


def test_server_dry_run_changes_nothing(api: Running, kubectl_bin: Path) -> None:
    dry = "--dry-run=server"
    out = run(kubectl_bin, api, "create", "configmap", "dry", dry).stdout
    assert out == "configmap/dry created (server dry run)\n"
    assert "configmap/dry" not in names(kubectl_bin, api, "cm")
    run(kubectl_bin, api, "create", "configmap", "real")
    before = get(kubectl_bin, api, "cm", "real")
    run(kubectl_bin, api, "delete", "cm", "real", dry)
    run(kubectl_bin, api, "delete", "cm", "--all", dry)
    run(kubectl_bin, api, "annotate", "cm", "real", "a=b", dry)
    changed = {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "real"}, "data": {}}
    run(kubectl_bin, api, "apply", "--server-side", dry, "-f", "-", stdin=json.dumps(changed))
    run(kubectl_bin, api, "create", "namespace", "kept")
    run(kubectl_bin, api, "delete", "namespace", "kept", dry)
    assert get(kubectl_bin, api, "cm", "real") == before
    assert get(kubectl_bin, api, "ns", "kept")["status"]["phase"] == "Active"
    run(kubectl_bin, api, "delete", "namespace", "kept")
    immortal = run(kubectl_bin, api, "delete", "namespace", "default", ok=False)
    assert immortal.stderr.strip() == (
        'Error from server (Forbidden): namespaces "default" is forbidden: '
        "this namespace may not be deleted"
    )
    run(kubectl_bin, api, "delete", "cm", "real")
