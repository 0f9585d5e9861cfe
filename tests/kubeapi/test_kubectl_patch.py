"""The real kubectl's writes by patch: client- and server-side apply, label, scale, selectors."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from podtap.backends.local.kubeapi.app import Running
from tests.kubeapi.cli import run
from tests.kubeapi.manifests import DEPLOYMENT

# The second apply changes the image and the replicas and drops a container: kubectl sends a
# strategic merge patch with `$setElementOrder/containers` and a `$patch: delete` item.
CHANGED = (
    DEPLOYMENT.replace("image: nginx", "image: nginx:1.27")
    .replace("replicas: 2", "replicas: 3")
    .replace("      - {name: side, image: busybox}\n", "")
)

CONFIG = """\
apiVersion: v1
kind: ConfigMap
metadata: {name: ssa, namespace: default}
data: {a: "1", b: "2"}
"""


def get(bin_: Path, api: Running, *what: str) -> Any:
    out = run(bin_, api, "get", *what, "-o", "json", "--show-managed-fields").stdout
    return json.loads(out)


def managers(obj: Any) -> list[tuple[str, str]]:
    return [(m["manager"], m["operation"]) for m in obj["metadata"]["managedFields"]]


def test_client_side_apply_twice(api: Running, kubectl_bin: Path) -> None:
    assert run(kubectl_bin, api, "apply", "-f", "-", stdin=DEPLOYMENT).stdout == (
        "deployment.apps/web created\n"
    )
    out = run(kubectl_bin, api, "apply", "-f", "-", "-v=6", stdin=CHANGED)
    assert out.stdout == "deployment.apps/web configured\n"
    assert "fieldManager=kubectl-client-side-apply" in out.stderr and '"PATCH"' in out.stderr
    deploy = get(kubectl_bin, api, "deploy", "web")
    containers = deploy["spec"]["template"]["spec"]["containers"]
    assert [(c["name"], c["image"]) for c in containers] == [("web", "nginx:1.27")]
    assert deploy["spec"]["replicas"] == 3 and deploy["metadata"]["generation"] == 2
    assert managers(deploy) == [("kubectl-client-side-apply", "Update")]
    run(kubectl_bin, api, "delete", "deploy", "web")


def test_server_side_apply_conflict_and_force(api: Running, kubectl_bin: Path) -> None:
    ssa = ("apply", "--server-side", "-f", "-")
    assert run(kubectl_bin, api, *ssa, stdin=CONFIG).stdout == "configmap/ssa serverside-applied\n"
    assert run(kubectl_bin, api, *ssa, stdin=CONFIG).stdout == "configmap/ssa serverside-applied\n"
    other = CONFIG.replace('"1"', '"9"')
    refused = run(kubectl_bin, api, *ssa, "--field-manager=other", stdin=other, ok=False)
    assert refused.returncode == 1
    assert refused.stderr.startswith(
        'error: Apply failed with 1 conflict: conflict with "kubectl": .data.a\n'
    )
    assert get(kubectl_bin, api, "cm", "ssa")["data"] == {"a": "1", "b": "2"}
    forced = ("--field-manager=other", "--force-conflicts")
    run(kubectl_bin, api, *ssa, *forced, stdin=other)
    cm = get(kubectl_bin, api, "cm", "ssa")
    assert cm["data"] == {"a": "9", "b": "2"}
    owned = {m["manager"]: m["fieldsV1"] for m in cm["metadata"]["managedFields"]}
    # b is shared (same value from both), a moved to the forcing manager.
    assert owned == {
        "kubectl": {"f:data": {"f:b": {}}},
        "other": {"f:data": {"f:a": {}, "f:b": {}}},
    }
    run(kubectl_bin, api, "delete", "cm", "ssa")


def test_label_annotate_scale_and_selectors(api: Running, kubectl_bin: Path) -> None:
    run(kubectl_bin, api, "apply", "-f", "-", stdin=DEPLOYMENT)
    for name in ("x", "y"):
        run(kubectl_bin, api, "create", "configmap", name)
    assert run(kubectl_bin, api, "label", "cm", "x", "app=x").stdout == "configmap/x labeled\n"
    assert run(kubectl_bin, api, "label", "cm", "y", "app=y", "tier=back").stdout == (
        "configmap/y labeled\n"
    )
    assert run(kubectl_bin, api, "annotate", "cm", "x", "note=hi").stdout == (
        "configmap/x annotated\n"
    )
    assert get(kubectl_bin, api, "cm", "x")["metadata"]["annotations"] == {"note": "hi"}
    names = ("-o", "name")
    assert run(kubectl_bin, api, "get", "cm", "-l", "app=x", *names).stdout == "configmap/x\n"
    both = run(kubectl_bin, api, "get", "cm", "-l", "app in (x,y),!gone", *names).stdout
    assert both.split() == ["configmap/x", "configmap/y"]
    by_name = run(kubectl_bin, api, "get", "cm", "--field-selector", "metadata.name=y", *names)
    assert by_name.stdout == "configmap/y\n"
    bad = run(kubectl_bin, api, "get", "cm", "-l", "app in", ok=False)
    assert "unable to parse requirement: found '' expected: '('" in bad.stderr
    unknown = run(kubectl_bin, api, "get", "pods", "--field-selector", "spec.foo=1", ok=False)
    assert unknown.stderr.strip().endswith("field label not supported: spec.foo")

    out = run(kubectl_bin, api, "scale", "deployment", "web", "--replicas=5").stdout
    assert out == "deployment.apps/web scaled\n"
    deploy = get(kubectl_bin, api, "deploy", "web")
    assert deploy["spec"]["replicas"] == 5 and deploy["metadata"]["generation"] == 2

    assert run(kubectl_bin, api, "delete", "cm", "-l", "tier=back").stdout.startswith(
        'configmap "y" deleted'
    )
    left = run(kubectl_bin, api, "get", "cm", "-l", "app", *names).stdout
    assert left == "configmap/x\n"
    run(kubectl_bin, api, "delete", "cm", "x")
    run(kubectl_bin, api, "delete", "deploy", "web")


def test_patch_types_and_dry_run(api: Running, kubectl_bin: Path) -> None:
    run(kubectl_bin, api, "create", "configmap", "p", "--from-literal=a=1")
    run(kubectl_bin, api, "patch", "cm", "p", "--type=merge", "-p", '{"data":{"b":"2"}}')
    ops = '[{"op":"replace","path":"/data/a","value":"3"},{"op":"remove","path":"/data/b"}]'
    run(kubectl_bin, api, "patch", "cm", "p", "--type=json", "-p", ops)
    assert get(kubectl_bin, api, "cm", "p")["data"] == {"a": "3"}
    failed = run(
        kubectl_bin,
        api,
        "patch",
        "cm",
        "p",
        "--type=json",
        "-p",
        '[{"op":"test","path":"/data/a","value":"x"}]',
        ok=False,
    )
    assert "the server rejected our request due to an error in our request" in failed.stderr
    dry = run(kubectl_bin, api, "label", "cm", "p", "dry=run", "--dry-run=server").stdout
    assert dry == "configmap/p labeled (server dry run)\n"
    assert "labels" not in get(kubectl_bin, api, "cm", "p")["metadata"]
    run(kubectl_bin, api, "delete", "cm", "p")
