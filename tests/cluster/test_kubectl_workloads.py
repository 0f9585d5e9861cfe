"""Workloads run for real under the real kubectl (issue 12, item 6): a Deployment rolls
through ReplicaSets one pod at a time with its Service answering throughout, rolls back,
and scales; a Job runs to completion; a DaemonSet gets the one node's pod."""

from __future__ import annotations

import time
from pathlib import Path

from podtap.testing.localcluster import LocalCluster
from podtap.testing.wait import wait_until
from tests.cluster.test_kubectl_local import HELLO, Kubectl

JOB = """
apiVersion: batch/v1
kind: Job
metadata: {name: count}
spec:
  completions: 2
  parallelism: 1
  backoffLimit: 2
  template:
    spec:
      restartPolicy: Never
      containers:
        - {name: count, image: busybox, command: ["sh", "-c", "echo done"]}
"""
DAEMON = """
apiVersion: apps/v1
kind: DaemonSet
metadata: {name: agent}
spec:
  selector: {matchLabels: {app: agent}}
  template:
    metadata: {labels: {app: agent}}
    spec:
      containers:
        - {name: agent, image: busybox, command: ["sleep", "3600"]}
"""


def _pods(kubectl: Kubectl, selector: str) -> set[str]:
    return {p["metadata"]["name"] for p in kubectl.json("pods", "-l", selector)["items"]}


def _revisions(kubectl: Kubectl) -> dict[str, str]:
    return {
        rs["metadata"]["name"]: rs["metadata"]["annotations"]["deployment.kubernetes.io/revision"]
        for rs in kubectl.json("replicasets", "-l", "app=hello")["items"]
    }


def test_workloads_roll_run_and_complete(make_cluster: type[LocalCluster], tmp_path: Path) -> None:
    c = make_cluster("t-kworkloads")
    c.up()
    kubectl = Kubectl(Path(c.podtap("local", "kubeconfig").stdout.strip()), tmp_path)

    # A Deployment makes a ReplicaSet, which makes the pods (pod-template-hash, revision 1).
    kubectl("apply", "-f", "-", stdin=HELLO)
    kubectl("rollout", "status", "deployment/hello", "--timeout=60s")
    (first,) = _revisions(kubectl).items()
    assert first[1] == "1"
    before = _pods(kubectl, "app=hello")
    assert len(before) == 2 and all(p.startswith(first[0] + "-") for p in before)
    pod = kubectl.json("pods", "-l", "app=hello")["items"][0]
    assert pod["metadata"]["labels"]["pod-template-hash"] == first[0].rsplit("-", 1)[1]
    assert pod["metadata"]["ownerReferences"][0]["kind"] == "ReplicaSet"

    # rollout restart: a new ReplicaSet; pods replaced one by one, the Service answering.
    kubectl("rollout", "restart", "deployment/hello")
    answers, seen_counts = [], set()
    deadline = time.monotonic() + 90
    while time.monotonic() < deadline:
        answers.append(c.curl("http://hello/"))
        seen_counts.add(len(_pods(kubectl, "app=hello")))
        if (
            kubectl("rollout", "status", "deployment/hello", "--timeout=1s", ok=False).returncode
            == 0
        ):
            break
    kubectl("rollout", "status", "deployment/hello", "--timeout=60s")
    after = _pods(kubectl, "app=hello")
    assert len(after) == 2 and not after & before
    assert max(seen_counts) <= 3, seen_counts  # maxSurge 25 % of 2: one pod more at most
    assert all(answers), answers
    revisions = _revisions(kubectl)
    assert sorted(revisions.values()) == ["1", "2"]
    history = kubectl("rollout", "history", "deployment/hello").stdout
    assert "1 " in history and "2 " in history, history
    assert (
        kubectl.json("deployment", "hello")["metadata"]["annotations"][
            "deployment.kubernetes.io/revision"
        ]
        == "2"
    )

    # rollout undo: back to the first ReplicaSet, now revision 3.
    kubectl("rollout", "undo", "deployment/hello")
    kubectl("rollout", "status", "deployment/hello", "--timeout=60s")
    wait_until(
        lambda: _revisions(kubectl).get(first[0]) == "3", timeout=20, what="the old set revived"
    )
    assert all(p.startswith(first[0] + "-") for p in _pods(kubectl, "app=hello"))
    assert c.curl("http://hello/")

    # scale
    kubectl("scale", "deployment/hello", "--replicas=3")
    kubectl("rollout", "status", "deployment/hello", "--timeout=60s")
    assert len(_pods(kubectl, "app=hello")) == 3

    # A Job runs its pods to completion; kubectl wait returns.
    kubectl("apply", "-f", "-", stdin=JOB)
    kubectl("wait", "--for=condition=complete", "job/count", "--timeout=60s")
    job = kubectl.json("job", "count")
    assert job["status"]["succeeded"] == 2, job["status"]
    phases = [p["status"]["phase"] for p in kubectl.json("pods", "-l", "job-name=count")["items"]]
    assert phases == ["Succeeded", "Succeeded"], phases

    # A DaemonSet: one pod, on the one node.
    kubectl("apply", "-f", "-", stdin=DAEMON)
    wait_until(
        lambda: (
            len(_pods(kubectl, "app=agent")) == 1
            and kubectl.json("daemonset", "agent").get("status", {}).get("numberReady") == 1
        ),
        timeout=30,
        what="the daemonset's pod to be ready",
    )
    (agent,) = kubectl.json("pods", "-l", "app=agent")["items"]
    assert agent["spec"]["nodeName"] == "podtap-local"
    assert agent["metadata"]["ownerReferences"][0]["kind"] == "DaemonSet"
    c.down()
