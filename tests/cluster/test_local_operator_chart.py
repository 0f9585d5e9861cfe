"""`podtap local up` installs the operator with charts/podtap-operator and the real helm
(issue 13, item 5): the operator pod runs `podtap operator serve --kube` as uid 65532 on a
read-only root, becomes Ready by its HTTPS probes, reads the requestheader CA from
kube-system, takes the chart's Lease and labels itself; the APIService is Available and the
aggregator reaches it as admin, as a limited user with the chart's `-user` ClusterRole, and
refuses that user without it. `helm uninstall` takes the chart's objects; `local up` again
installs it anew. Only helm, kubectl and podtap, with kubeconfigs."""

from __future__ import annotations

import contextlib
import json
import time
from pathlib import Path
from typing import Any

from podtap.testing.localcluster import LocalCluster
from podtap.testing.wait import wait_until
from tests.cluster.test_helm_local import Helm
from tests.cluster.test_kubectl_local import Kubectl, _ready

NS = ("-n", "podtap")
STATUS = "/apis/operator.podtap.dev/v1/operators/operator"
APISERVICE = "v1.operator.podtap.dev"
CLUSTER_OBJECTS = "crd,apiservice,clusterrole,clusterrolebinding"


def _operator_pod(kubectl: Kubectl) -> dict[str, Any]:
    pods = kubectl.json("pods", *NS, "-l", "app.kubernetes.io/name=podtap-operator")["items"]
    assert len(pods) == 1, [p["metadata"]["name"] for p in pods]
    pod: dict[str, Any] = pods[0]
    return pod


def _leading(kubectl: Kubectl) -> dict[str, Any] | None:
    """The operator pod once it is Ready and labelled leader, else None."""
    pod = _operator_pod(kubectl)
    leader = pod["metadata"].get("labels", {}).get("podtap.dev/leader") == "true"
    return pod if leader and _ready(pod) else None


def _process(c: LocalCluster) -> int:
    (pod,) = [p for p in c.get("pods", namespace="podtap")]
    pid: int = pod["containers"][0]["pid"]
    return pid


def _ids(pid: int) -> dict[str, list[str]]:
    """The process's real, effective, saved and filesystem uids and gids."""
    fields = (line.split(":", 1) for line in Path(f"/proc/{pid}/status").read_text().splitlines())
    return {key: value.split() for key, value in fields if key in ("Uid", "Gid")}


def _root_options(pid: int) -> list[str]:
    """The mount options of the process's `/` (the last mount on it is what it sees)."""
    mounts = [line.split() for line in Path(f"/proc/{pid}/mountinfo").read_text().splitlines()]
    return [m for m in mounts if m[4] == "/"][-1][5].split(",")


def _chart_objects(kubectl: Kubectl) -> list[str]:
    cluster = kubectl("get", CLUSTER_OBJECTS, "-o", "name").stdout.split()
    spaced = kubectl("get", "all,secrets,roles,rolebindings,serviceaccounts,leases,pdb", *NS,
                     "-o", "name").stdout.split()  # fmt: skip
    system = kubectl("get", "rolebindings", "-n", "kube-system", "-o", "name").stdout.split()
    return [n for n in cluster + spaced + system if "podtap" in n]


def test_local_up_installs_the_operator_chart(
    make_cluster: type[LocalCluster], tmp_path: Path
) -> None:
    c = make_cluster("t-opchart")
    started = time.monotonic()
    c.up(operator_chart=True)
    took = time.monotonic() - started
    config = Path(c.podtap("local", "kubeconfig").stdout.strip())
    kubectl, helm = Kubectl(config, tmp_path), Helm(config, tmp_path)

    status = json.loads(helm("status", "podtap", *NS, "-o", "json").stdout)
    assert (status["info"]["status"], status["version"]) == ("deployed", 1), took
    # Ready by its HTTPS /healthz probes (--wait), then leading: the Lease names it.
    pod = wait_until(
        lambda: _leading(kubectl), timeout=20, what="the operator leading", interval=0.3
    )
    name = pod["metadata"]["name"]
    lease = kubectl.json("lease", "podtap-operator-leader", *NS)
    assert lease["spec"]["holderIdentity"] == name
    assert (
        "became leader of lease podtap/podtap-operator-leader" in kubectl("logs", *NS, name).stdout
    )
    # As the chart asks: uid/gid 65532 on a read-only root.
    pid = _process(c)
    assert _ids(pid) == {"Uid": ["65532"] * 4, "Gid": ["65532"] * 4}
    assert "ro" in _root_options(pid)

    # The aggregated API: Available, and the operator answers through the kube-apiserver.
    available = wait_until(
        lambda: [c for c in (kubectl.json("apiservice", APISERVICE).get("status") or {})
                 .get("conditions", []) if c["type"] == "Available" and c["status"] == "True"],
        timeout=20, what="the APIService Available", interval=0.3,
    )  # fmt: skip
    assert available[0]["reason"] == "Passed"
    row = kubectl("get", "apiservice", APISERVICE, "--no-headers").stdout.split()
    assert row[:3] == [APISERVICE, "podtap/podtap-operator", "True"]
    assert json.loads(kubectl("get", "--raw", STATUS).stdout)["sessions"] == []
    alice = tmp_path / "alice.yaml"
    c.podtap("local", "kubeconfig", "--user", "alice", "--out", str(alice))
    denied = c.podtap("operator", "status", "--kubeconfig", str(alice), check=False)
    assert denied.returncode == 1
    assert "ask a cluster admin for operator.podtap.dev operators/operator get" in denied.stderr
    refused = kubectl("get", "--raw", STATUS, config=alice, ok=False)
    assert refused.stderr.strip() == (
        'Error from server (Forbidden): operators.operator.podtap.dev "operator" is forbidden: '
        'User "alice" cannot get resource "operators" in API group "operator.podtap.dev" at the '
        "cluster scope"
    )
    kubectl("create", "clusterrolebinding", "alice-podtap", "--clusterrole=podtap-operator-user",
            "--user=alice")  # fmt: skip
    answer = kubectl("get", "--raw", STATUS, config=alice)
    assert "version" in json.loads(answer.stdout)
    # podtap itself, with alice's kubeconfig, reaches this operator through the API.
    status_line = c.podtap("operator", "status", "--kubeconfig", str(alice)).stdout
    assert status_line.startswith("podtap operator ") and "0 session(s)" in status_line
    kubectl("delete", "clusterrolebinding", "alice-podtap")

    # A second up upgrades in place (a new revision, the same pod: nothing changed).
    c.up(operator_chart=True)
    assert json.loads(helm("status", "podtap", *NS, "-o", "json").stdout)["version"] == 2
    assert _operator_pod(kubectl)["metadata"]["name"] == name

    # helm uninstall takes every object of the chart (the Lease: see the test below).
    helm("uninstall", "podtap", *NS, "--wait", "--timeout", "60s")
    wait_until(
        lambda: [n for n in _chart_objects(kubectl) if "lease" not in n] == [],
        timeout=30, what="the chart's objects gone", interval=0.3,
    )  # fmt: skip
    assert "podtapsessions.podtap.dev" not in kubectl("api-resources", "-o", "name").stdout

    # `local up` again installs it anew, and the operator serves again.
    c.up(operator_chart=True)
    assert json.loads(helm("status", "podtap", *NS, "-o", "json").stdout)["version"] == 1
    wait_until(
        lambda: _leading(kubectl), timeout=20, what="the operator leading again", interval=0.3
    )
    assert json.loads(kubectl("get", "--raw", STATUS).stdout)["sessions"] == []
    c.down()


def test_helm_uninstall_leaves_no_lease(make_cluster: type[LocalCluster], tmp_path: Path) -> None:
    c = make_cluster("t-oplease")
    c.up(operator_chart=True)
    config = Path(c.podtap("local", "kubeconfig").stdout.strip())
    kubectl, helm = Kubectl(config, tmp_path), Helm(config, tmp_path)
    wait_until(lambda: _leading(kubectl), timeout=20, what="the operator leading", interval=0.3)
    helm("uninstall", "podtap", *NS, "--wait", "--timeout", "60s")
    with contextlib.suppress(AssertionError):  # the Lease may go a little later (GC)
        wait_until(lambda: _chart_objects(kubectl) == [], timeout=10, what="", interval=0.3)
    assert _chart_objects(kubectl) == []
