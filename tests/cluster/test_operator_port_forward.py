"""Without an APIService (issue 13, item 3's last line), on a real `podtap local up`: the chart
installed by the real helm with `apiService.enabled=false`, and `podtap operator status` as a
ServiceAccount whose kubeconfig holds a `kubectl create token` reaches the operator by
port-forward to its pod; the operator knows who asked (its 403 names the account); and
`podtap exec --steal` opens its session's WebSocket over the same port-forward."""

from __future__ import annotations

import json
import signal
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
import yaml

from podtap.backends.local.operator_chart import CHART
from podtap.testing.localcluster import LocalCluster, podtap_argv
from podtap.testing.wait import wait_until
from tests.cluster.test_helm_local import Helm
from tests.cluster.test_kubectl_local import Kubectl, _ready
from tests.exec.test_exec_incoming import LOCAL_APP

SHOP = Path(__file__).parents[2] / "examples" / "shop"
NS = ("-n", "podtap")
FULLNAME = "podtap-operator"
APISERVICE = "v1.operator.podtap.dev"
NO_APISERVICE = ("--set", f"fullnameOverride={FULLNAME}", "--set", "apiService.enabled=false")

Installed = tuple[LocalCluster, Kubectl, Path]


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
        role = f"--clusterrole={FULLNAME}-user"
        kubectl("create", "clusterrolebinding", f"podtap-{name}", role, subject)
    token = kubectl("create", "token", name, *NS).stdout.strip()
    return _token_kubeconfig(admin, token, tmp / f"{name}.yaml")


def _operator_ready(kubectl: Kubectl) -> bool:
    pods = kubectl.json("pods", *NS, "-l", "app.kubernetes.io/component=operator")["items"]
    leading = [p for p in pods if p["metadata"].get("labels", {}).get("podtap.dev/leader")]
    return bool(leading) and all(_ready(p) for p in leading)


@pytest.fixture
def installed(make_cluster: type[LocalCluster], tmp_path: Path) -> Iterator[Installed]:
    """The shop on a local cluster, and the chart without an APIService; uninstalled after."""
    c = make_cluster("t-opfwd")
    c.up(SHOP)
    admin = Path(c.podtap("local", "kubeconfig").stdout.strip())
    kubectl, helm = Kubectl(admin, tmp_path), Helm(admin, tmp_path)
    wait = ("--wait", "--timeout", "120s")
    helm("install", "podtap", str(CHART), *NS, "--create-namespace", *wait, *NO_APISERVICE)
    try:
        assert kubectl("get", "apiservice", APISERVICE, ok=False).returncode != 0
        wait_until(lambda: _operator_ready(kubectl), timeout=30, what="the operator leading")
        yield c, kubectl, admin
    finally:
        for name in ("alice", "bob"):
            kubectl("delete", "clusterrolebinding", f"podtap-{name}", ok=False)
        helm("uninstall", "podtap", *NS, "--wait", "--timeout", "60s", ok=False)


def test_operator_status_by_port_forward_without_an_apiservice(
    installed: Installed, tmp_path: Path
) -> None:
    c, kubectl, admin = installed
    alice = _account(kubectl, "alice", operators=True, tmp=tmp_path, admin=admin)
    forward = ("--operator-via", "port-forward")

    status = c.podtap("operator", "status", "-o", "json", "-v", "--kubeconfig", str(alice),
                      *forward, check=False)  # fmt: skip
    assert status.returncode == 0, status.stderr
    assert json.loads(status.stdout)["sessions"] == []
    assert "operator: by port-forward to pod podtap/podtap-operator-" in status.stderr
    # auto (the default): the API server has no operator.podtap.dev/v1, so the same way
    line = c.podtap("operator", "status", "--kubeconfig", str(alice), check=False)
    assert line.returncode == 0, line.stderr
    assert line.stdout.startswith("podtap operator ") and "0 session(s)" in line.stdout

    bob = _account(kubectl, "bob", operators=False, tmp=tmp_path, admin=admin)
    denied = c.podtap("operator", "status", "--kubeconfig", str(bob), *forward, check=False)
    assert denied.returncode == 1
    assert denied.stderr.strip().endswith(
        'operators.operator.podtap.dev "operator" is forbidden: User '
        '"system:serviceaccount:podtap:bob" cannot get resource "operators" in API group '
        '"operator.podtap.dev" at the cluster scope'
    ), denied.stderr


def test_a_session_steals_over_the_port_forward(installed: Installed, tmp_path: Path) -> None:
    c, kubectl, admin = installed
    alice = _account(kubectl, "alice", operators=True, tmp=tmp_path, admin=admin)
    app, errors = tmp_path / "app.py", tmp_path / "exec.err"
    app.write_text(LOCAL_APP)
    argv = podtap_argv("exec", "--kubeconfig", str(alice), "--operator-via", "port-forward",
                       "-t", "deployment/shop", "--steal", "--filter", "^x-user: alice$", "--",
                       sys.executable, str(app), "alice's laptop")  # fmt: skip
    with errors.open("w") as err:
        proc = subprocess.Popen(argv, env=c.env, stdout=subprocess.DEVNULL, stderr=err)
    try:
        wait_until(lambda: "port 8080: steal" in errors.read_text() or proc.poll() is not None,
                   timeout=60, what="alice's port stolen")  # fmt: skip
        assert proc.poll() is None, errors.read_text()
        assert _curl(c, "x-user: alice") == "alice's laptop got /x for alice"
        assert "alice's laptop" not in _curl(c, "x-user: bob")  # the pod's own answer
        (session,) = kubectl.json("podtapsessions")["items"]
        assert session["spec"]["user"] == "system:serviceaccount:podtap:alice"
    finally:
        if proc.poll() is None:
            proc.send_signal(signal.SIGINT)
        proc.wait(timeout=30)
    said = errors.read_text()  # (the app's own KeyboardInterrupt is the app's)
    assert not [line for line in said.splitlines() if line.startswith("error:")], said


def _curl(c: LocalCluster, header: str) -> str:
    """What the shop Service answers a pod of the cluster, with `header`."""
    done = c.run(["curl", "-sS", "--max-time", "10", "-H", header, "http://shop/x"])
    assert done.returncode == 0, done.stderr
    return done.stdout
