"""Without an APIService (issue 13, item 3's last line), on a real `podtap local up`: the chart
installed by the real helm with `apiService.enabled=false`, and `podtap operator status` as a
ServiceAccount whose kubeconfig holds a `kubectl create token` reaches the operator by
port-forward to its pod; the operator knows who asked (its 403 names the account)."""

from __future__ import annotations

import json
from pathlib import Path

import yaml

from podtap.backends.local.operator_chart import CHART
from podtap.testing.localcluster import LocalCluster
from podtap.testing.wait import wait_until
from tests.cluster.test_helm_local import Helm
from tests.cluster.test_kubectl_local import Kubectl, _ready

NS = ("-n", "podtap")
FULLNAME = "podtap-operator"
APISERVICE = "v1.operator.podtap.dev"


def _token_kubeconfig(admin: Path, token: str, out: Path) -> Path:
    """The admin kubeconfig's cluster, with a user that is only `token`."""
    config = yaml.safe_load(admin.read_text())
    config["users"] = [{"name": "sa", "user": {"token": token}}]
    for context in config["contexts"]:
        context["context"]["user"] = "sa"
    out.write_text(yaml.safe_dump(config))
    return out


def _account(kubectl: Kubectl, name: str, *, operators: bool, tmp: Path, admin: Path) -> Path:
    """A ServiceAccount given the chart's Role (and its ClusterRole if `operators`), and a
    kubeconfig with its token."""
    kubectl("create", "serviceaccount", name, *NS)
    subject = f"--serviceaccount=podtap:{name}"
    kubectl("create", "rolebinding", name, *NS, f"--role={FULLNAME}-user", subject)
    if operators:
        kubectl(
            "create",
            "clusterrolebinding",
            f"podtap-{name}",
            f"--clusterrole={FULLNAME}-user",
            subject,
        )
    token = kubectl("create", "token", name, *NS).stdout.strip()
    return _token_kubeconfig(admin, token, tmp / f"{name}.yaml")


def _operator_ready(kubectl: Kubectl) -> bool:
    pods = kubectl.json("pods", *NS, "-l", "app.kubernetes.io/component=operator")["items"]
    leading = [p for p in pods if p["metadata"].get("labels", {}).get("podtap.dev/leader")]
    return bool(leading) and all(_ready(p) for p in leading)


def test_operator_status_by_port_forward_without_an_apiservice(
    make_cluster: type[LocalCluster], tmp_path: Path
) -> None:
    c = make_cluster("t-opfwd")
    c.up()
    admin = Path(c.podtap("local", "kubeconfig").stdout.strip())
    kubectl, helm = Kubectl(admin, tmp_path), Helm(admin, tmp_path)
    helm(
        "install",
        "podtap",
        str(CHART),
        *NS,
        "--create-namespace",
        "--wait",
        "--timeout",
        "120s",
        "--set",
        f"fullnameOverride={FULLNAME}",
        "--set",
        "apiService.enabled=false",
    )
    try:
        assert kubectl("get", "apiservice", APISERVICE, ok=False).returncode != 0
        wait_until(lambda: _operator_ready(kubectl), timeout=30, what="the operator leading")
        alice = _account(kubectl, "alice", operators=True, tmp=tmp_path, admin=admin)

        status = c.podtap(
            "operator",
            "status",
            "-o",
            "json",
            "-v",
            "--kubeconfig",
            str(alice),
            "--operator-via",
            "port-forward",
            check=False,
        )
        assert status.returncode == 0, status.stderr
        assert json.loads(status.stdout)["sessions"] == []
        assert "operator: by port-forward to pod podtap/podtap-operator-" in status.stderr
        # auto (the default): the API server has no operator.podtap.dev/v1, so the same way
        line = c.podtap("operator", "status", "--kubeconfig", str(alice), check=False)
        assert line.returncode == 0, line.stderr
        assert line.stdout.startswith("podtap operator ") and "0 session(s)" in line.stdout

        bob = _account(kubectl, "bob", operators=False, tmp=tmp_path, admin=admin)
        denied = c.podtap(
            "operator",
            "status",
            "--kubeconfig",
            str(bob),
            "--operator-via",
            "port-forward",
            check=False,
        )
        assert denied.returncode == 1
        assert denied.stderr.strip().endswith(
            'operators.operator.podtap.dev "operator" is forbidden: User '
            '"system:serviceaccount:podtap:bob" cannot get resource "operators" in API group '
            '"operator.podtap.dev" at the cluster scope'
        ), denied.stderr
    finally:
        kubectl("delete", "clusterrolebinding", "podtap-alice", ok=False)
        helm("uninstall", "podtap", *NS, "--wait", "--timeout", "60s", ok=False)
