"""The real Helm 4 against the API server: install, upgrade, rollback, list, status, uninstall.

Helm 4 installs and upgrades with server-side apply by default (fieldManager `helm`), so this
drives apply, managedFields, CRDs from the chart's crds/ and a custom resource in the same
release, RBAC objects, and Helm's release Secrets (listed by label selector). No pod runs
behind this standalone server, so nothing waits for a Deployment to become ready.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from podtap.backends.local.kubeapi.app import Running
from tests.kubeapi.cli import run

CHART = Path(__file__).parent / "charts" / "sample"
KINDS = "configmaps,secrets,serviceaccounts,roles,rolebindings,deployments,services,gadgets"


def objects(kubectl: Path, api: Running, namespace: str) -> list[str]:
    return run(kubectl, api, "get", KINDS, "-n", namespace, "-o", "name").stdout.split()


def get(kubectl: Path, api: Running, *what: str) -> Any:
    out = run(kubectl, api, "get", *what, "-o", "json", "--show-managed-fields").stdout
    return json.loads(out)


def test_install_upgrade_rollback_uninstall(
    api: Running, kubectl_bin: Path, helm_bin: Path
) -> None:
    ns = ("-n", "shop")
    run(kubectl_bin, api, "create", "namespace", "shop")
    installed = run(helm_bin, api, "install", "demo", str(CHART), *ns).stdout
    assert "STATUS: deployed" in installed and "REVISION: 1" in installed
    assert sorted(objects(kubectl_bin, api, "shop")) == [
        "configmap/demo-config",
        "deployment.apps/demo-web",
        "gadget.example.com/demo-gadget",
        "role.rbac.authorization.k8s.io/demo-reader",
        "rolebinding.rbac.authorization.k8s.io/demo-reader",
        "secret/demo-secret",
        "secret/sh.helm.release.v1.demo.v1",
        "service/demo-web",
        "serviceaccount/demo-sa",
    ]
    config = get(kubectl_bin, api, "cm", "demo-config", *ns)
    assert config["data"] == {"greeting": "hello"}
    assert [(m["manager"], m["operation"]) for m in config["metadata"]["managedFields"]] == [
        ("helm", "Apply")
    ]
    assert get(kubectl_bin, api, "secret", "demo-secret", *ns)["data"] == {"password": "czNjcmV0"}

    upgrade = ("--set", "greeting=bye", "--set", "replicas=2", "--set", "image=nginx:1.28")
    assert "REVISION: 2" in run(helm_bin, api, "upgrade", "demo", str(CHART), *ns, *upgrade).stdout
    assert get(kubectl_bin, api, "cm", "demo-config", *ns)["data"] == {"greeting": "bye"}
    web = get(kubectl_bin, api, "deploy", "demo-web", *ns)
    assert web["spec"]["replicas"] == 2 and web["metadata"]["generation"] == 2
    assert web["spec"]["template"]["spec"]["containers"][0]["image"] == "nginx:1.28"
    assert get(kubectl_bin, api, "gadget", "demo-gadget", *ns)["spec"] == {"size": 2}

    listed = json.loads(run(helm_bin, api, "list", *ns, "-o", "json").stdout)
    assert [(r["name"], r["revision"], r["status"]) for r in listed] == [("demo", "2", "deployed")]
    status = json.loads(run(helm_bin, api, "status", "demo", *ns, "-o", "json").stdout)
    assert status["version"] == 2 and status["info"]["status"] == "deployed"

    run(helm_bin, api, "rollback", "demo", "1", *ns)
    assert get(kubectl_bin, api, "cm", "demo-config", *ns)["data"] == {"greeting": "hello"}
    web = get(kubectl_bin, api, "deploy", "demo-web", *ns)
    assert web["spec"]["template"]["spec"]["containers"][0]["image"] == "nginx:1.27"
    history = json.loads(run(helm_bin, api, "history", "demo", *ns, "-o", "json").stdout)
    assert [(h["revision"], h["status"]) for h in history] == [
        (1, "superseded"),
        (2, "superseded"),
        (3, "deployed"),
    ]

    out = run(helm_bin, api, "uninstall", "demo", *ns).stdout
    assert out == 'release "demo" uninstalled\n'
    assert objects(kubectl_bin, api, "shop") == []
    assert json.loads(run(helm_bin, api, "list", "-A", "-o", "json").stdout) == []
    # Helm keeps the CRDs of crds/ on uninstall, as everywhere.
    run(kubectl_bin, api, "get", "crd", "gadgets.example.com")
