"""The real Helm 4 against `podtap local up` (issue 12): a chart whose pods really run.

`helm install|upgrade|rollback|uninstall --wait` watch what they made with kstatus until it
is Current (a Deployment's pods Ready, every object observed) or gone, so these drive the
cluster's watches, status and garbage collection as a real one would. The chart
(tests/kubeapi/charts/hello) has a CRD in crds/, a custom resource, RBAC objects, a Secret,
a ConfigMap the pods serve, a Deployment with a readiness probe and its Service. Once with
server-side apply (Helm 4's default), once with `--server-side=false` (client-side apply).
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from pathlib import Path
from typing import Any

import pytest

from podtap.testing.localcluster import LocalCluster
from podtap.testing.wait import wait_until
from tests.cluster.test_kubectl_local import Kubectl
from tests.kubeapi.server import tools

CHART = Path(__file__).resolve().parents[1] / "kubeapi" / "charts" / "hello"
KINDS = "configmaps,secrets,serviceaccounts,roles,rolebindings,deployments,services,gadgets,pods"
WAIT = ("--wait", "--timeout", "90s")


class Helm(Kubectl):
    """helm with the cluster's kubeconfig and a HOME of its own (cache, config, data)."""

    def __init__(self, config: Path, home: Path) -> None:
        super().__init__(config, home)
        self.bin = tools() / "helm"


def _pods(kubectl: Kubectl) -> dict[str, Any]:
    """The release's pods by uid."""
    items = kubectl.json("pods", "-n", "shop", "-l", "app=demo")["items"]
    return {p["metadata"]["uid"]: p for p in items}


def _all_ready(pods: dict[str, Any]) -> bool:
    return all(
        any(c["type"] == "Ready" and c["status"] == "True" for c in p["status"]["conditions"])
        for p in pods.values()
    )


def _replaced(kubectl: Kubectl, old: Iterable[str]) -> dict[str, Any]:
    """The release's pods once none of `old` is left (a pod being deleted may still be
    listed for its grace period after --wait returns): two, new, Ready."""
    gone = set(old)
    wait_until(lambda: not _pods(kubectl).keys() & gone, timeout=30, what="the old pods gone")
    pods = _pods(kubectl)
    assert len(pods) == 2 and _all_ready(pods), pods
    return pods


def _names(pods: dict[str, Any]) -> set[str]:
    return {p["metadata"]["name"] for p in pods.values()}


def _answer(c: LocalCluster) -> str:
    """What the Service answers from another pod (a `podtap local run` pod in the namespace)."""
    done = c.run(["curl", "-sS", "--max-time", "10", "http://demo-web/"], namespace="shop")
    assert done.returncode == 0, done.stderr
    return done.stdout


def _chart_objects(kubectl: Kubectl) -> list[str]:
    names = kubectl("get", KINDS, "-n", "shop", "-o", "name").stdout.split()
    # What the namespace itself holds (its ServiceAccount, token and CA bundle) is not the chart's.
    own = {"configmap/kube-root-ca.crt", "secret/default-token", "serviceaccount/default"}
    return [n for n in names if n not in own]


@pytest.mark.parametrize("apply", ["server-side", "client-side"])
def test_helm_release_lifecycle_on_the_local_cluster(
    make_cluster: type[LocalCluster], tmp_path: Path, apply: str
) -> None:
    c = make_cluster(f"t-helm-{apply[0]}")
    c.up()
    config = Path(c.podtap("local", "kubeconfig").stdout.strip())
    kubectl, helm = Kubectl(config, tmp_path), Helm(config, tmp_path)
    side = ("--server-side=false",) if apply == "client-side" else ()
    ns = ("-n", "shop", "--create-namespace")

    # install --wait returns once the pods are Ready; the Service answers from another pod.
    out = helm("install", "demo", str(CHART), *ns, *WAIT, *side).stdout
    assert "STATUS: deployed" in out and "REVISION: 1" in out, out
    first = _pods(kubectl)
    assert len(first) == 2 and _all_ready(first), first
    names = _names(first)
    greeting, _, server = _answer(c).partition(" from ")
    assert greeting == "hello" and server in names
    assert sorted(_chart_objects(kubectl)) == sorted(
        [
            "configmap/demo-config",
            "deployment.apps/demo-web",
            "gadget.example.com/demo-gadget",
            *(f"pod/{n}" for n in names),
            "role.rbac.authorization.k8s.io/demo-reader",
            "rolebinding.rbac.authorization.k8s.io/demo-reader",
            "secret/demo-sa-token",  # the node's token for the chart's ServiceAccount
            "secret/demo-secret",
            "secret/sh.helm.release.v1.demo.v1",
            "service/demo-web",
            "serviceaccount/demo-sa",
        ]
    )
    config_map = kubectl.json("cm", "demo-config", "-n", "shop", "--show-managed-fields")
    managers = [(m["manager"], m["operation"]) for m in config_map["metadata"]["managedFields"]]
    assert managers == [("helm", "Apply" if apply == "server-side" else "Update")]

    # upgrade --wait with a new greeting: a new pod template (its checksum), so new pods.
    out = helm("upgrade", "demo", str(CHART), "-n", "shop", "--set", "greeting=bye", *WAIT, *side)
    assert "REVISION: 2" in out.stdout, out.stdout
    second = _replaced(kubectl, first.keys())
    assert _answer(c).removeprefix("bye from ") in _names(second)

    listed = json.loads(helm("list", "-n", "shop", "-o", "json").stdout)
    assert [(r["name"], r["revision"], r["status"]) for r in listed] == [("demo", "2", "deployed")]
    status = json.loads(helm("status", "demo", "-n", "shop", "-o", "json").stdout)
    assert status["version"] == 2 and status["info"]["status"] == "deployed"
    assert "==> v1/Pod(related)" in helm("status", "demo", "-n", "shop").stdout

    # rollback --wait: the first template again, in new pods.
    helm("rollback", "demo", "1", "-n", "shop", *WAIT, *side)
    third = _replaced(kubectl, first.keys() | second.keys())
    assert _answer(c).removeprefix("hello from ") in _names(third)
    history = json.loads(helm("history", "demo", "-n", "shop", "-o", "json").stdout)
    assert [(h["revision"], h["status"]) for h in history] == [
        (1, "superseded"),
        (2, "superseded"),
        (3, "deployed"),
    ]

    # uninstall --wait leaves nothing of the chart: no object, no pod; Helm keeps the CRD.
    out = helm("uninstall", "demo", "-n", "shop", "--wait", "--timeout", "90s").stdout
    assert out == 'release "demo" uninstalled\n'
    assert _chart_objects(kubectl) == []
    assert c.pods("demo-") == []
    assert json.loads(helm("list", "-A", "-o", "json").stdout) == []
    kubectl("get", "crd", "gadgets.example.com")
    c.down()
