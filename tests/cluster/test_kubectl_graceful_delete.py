"""Graceful pod deletion on `podtap local up` under the real kubectl: the object stays,
marked, while the kubelet stops the containers (SIGTERM, SIGKILL after the grace), and goes
once they have stopped; a ReplicaSet replaces it at once; its Service drops it at once."""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any

from podtap.testing.localcluster import LocalCluster
from podtap.testing.wait import wait_until
from tests.cluster.test_kubectl_local import Kubectl

LOOP = "while true; do sleep 0.1; done"


def pod(name: str, script: str, *, grace: int, out: Path) -> str:
    body: dict[str, Any] = {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {"name": name},
        "spec": {
            "terminationGracePeriodSeconds": grace,
            "containers": [
                {
                    "name": "c",
                    "image": "busybox",
                    "command": ["sh", "-c", script],
                    "volumeMounts": [{"name": "out", "mountPath": "/mnt/out"}],
                }
            ],
            "volumes": [{"name": "out", "hostPath": {"path": str(out)}}],
        },
    }
    return json.dumps(body)


def deployment(name: str) -> str:
    labels = {"app": name}
    container = {"name": "c", "image": "busybox", "command": ["sh", "-c", f"trap '' TERM; {LOOP}"]}
    template = {
        "metadata": {"labels": labels},
        "spec": {"terminationGracePeriodSeconds": 2, "containers": [container]},
    }
    spec = {"replicas": 1, "selector": {"matchLabels": labels}, "template": template}
    service = {
        "apiVersion": "v1",
        "kind": "Service",
        "metadata": {"name": name},
        "spec": {"selector": labels, "ports": [{"port": 80, "targetPort": 8000}]},
    }
    made = {"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": name}}
    return json.dumps(
        {"apiVersion": "v1", "kind": "List", "items": [{**made, "spec": spec}, service]}
    )


def names(kubectl: Kubectl, *what: str) -> set[str]:
    return {p["metadata"]["name"] for p in kubectl.json("pods", *what)["items"]}


def addresses(kubectl: Kubectl, name: str) -> list[str]:
    subsets = kubectl.json("endpoints", name).get("subsets") or []
    return [a["ip"] for s in subsets for a in s.get("addresses") or []]


def test_kubectl_delete_waits_for_the_kubelet(
    make_cluster: type[LocalCluster], tmp_path: Path
) -> None:
    c = make_cluster("t-kgrace")
    c.up()
    kubectl = Kubectl(Path(c.podtap("local", "kubeconfig").stdout.strip()), tmp_path)
    out = tmp_path / "out"
    out.mkdir()

    # A process that traps TERM runs its handler before the object goes.
    polite = f"trap 'echo bye > /mnt/out/polite; exit 0' TERM; echo up > /mnt/out/up; {LOOP}"
    kubectl("apply", "-f", "-", stdin=pod("polite", polite, grace=30, out=out))
    kubectl("wait", "pod/polite", "--for=condition=Ready", "--timeout=60s")
    wait_until(lambda: (out / "up").exists(), timeout=30, what="the polite pod started")
    done = kubectl("delete", "pod", "polite", "--timeout=60s")
    assert done.stdout == 'pod "polite" deleted from default namespace\n'
    assert (out / "polite").read_text() == "bye\n"
    assert "polite" not in names(kubectl)

    # A process that ignores TERM is killed after the pod's grace (1 s), then the pod goes.
    kubectl("apply", "-f", "-", stdin=pod("deaf", f"trap '' TERM; {LOOP}", grace=1, out=out))
    kubectl("wait", "pod/deaf", "--for=condition=Ready", "--timeout=60s")
    started = time.monotonic()
    kubectl("delete", "pod", "deaf", "--timeout=60s")
    took = time.monotonic() - started
    assert 1.0 <= took < 2.9, took
    assert "deaf" not in names(kubectl)

    # --grace-period=0 --force: the object goes at once.
    kubectl("apply", "-f", "-", stdin=pod("forced", f"trap '' TERM; {LOOP}", grace=30, out=out))
    kubectl("wait", "pod/forced", "--for=condition=Ready", "--timeout=60s")
    started = time.monotonic()
    forced = kubectl("delete", "pod", "forced", "--grace-period=0", "--force")
    assert time.monotonic() - started < 1.5
    assert 'pod "forced" force deleted' in forced.stdout
    assert "forced" not in names(kubectl)


def test_a_terminating_pod_is_replaced_and_leaves_its_service(
    make_cluster: type[LocalCluster], tmp_path: Path
) -> None:
    c = make_cluster("t-kgrace-rs")
    c.up()
    kubectl = Kubectl(Path(c.podtap("local", "kubeconfig").stdout.strip()), tmp_path)
    kubectl("apply", "-f", "-", stdin=deployment("deaf"))
    kubectl("rollout", "status", "deployment/deaf", "--timeout=60s")
    (old,) = names(kubectl, "-l", "app=deaf")
    ip = kubectl.json("pod", old)["status"]["podIP"]
    wait_until(lambda: addresses(kubectl, "deaf") == [ip], timeout=30, what="the endpoint")

    kubectl("delete", "pod", old, "--wait=false")
    marked = kubectl.json("pod", old)["metadata"]
    assert marked["deletionGracePeriodSeconds"] == 2 and marked["deletionTimestamp"]
    # The ReplicaSet makes the replacement while the old pod still terminates.
    wait_until(lambda: len(names(kubectl, "-l", "app=deaf")) == 2, timeout=2, what="replacement")
    assert old in names(kubectl, "-l", "app=deaf")
    assert ip not in addresses(kubectl, "deaf")
    (slice_,) = kubectl.json("endpointslices", "-l", "kubernetes.io/service-name=deaf")["items"]
    ending = [e for e in slice_["endpoints"] if e["targetRef"]["name"] == old]
    assert ending and ending[0]["conditions"]["terminating"] is True
    assert ending[0]["conditions"]["ready"] is False
    wait_until(lambda: old not in names(kubectl), timeout=10, what="the old pod gone")
    kubectl("rollout", "status", "deployment/deaf", "--timeout=60s")

    # A namespace with a running pod is deleted to the end (the pod stops, then it goes).
    kubectl("create", "namespace", "gone")
    kubectl("apply", "-n", "gone", "-f", "-", stdin=deployment("deaf"))
    kubectl("rollout", "status", "-n", "gone", "deployment/deaf", "--timeout=60s")
    kubectl("delete", "namespace", "gone", "--timeout=60s")
    missing = kubectl("get", "namespace", "gone", ok=False)
    assert 'namespaces "gone" not found' in missing.stderr
