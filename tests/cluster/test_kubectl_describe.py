"""`kubectl describe` against `podtap local up` (issue 12): every section a real cluster's
answers give it, the Events included — describe lists `events` by `involvedObject.*` field
selector, and the cluster posts them as the scheduler, kubelet and controllers do."""

from __future__ import annotations

from pathlib import Path

from podtap.testing.localcluster import LocalCluster
from tests.cluster.test_kubectl_local import HELLO, Kubectl

CRD = (
    Path(__file__).resolve().parents[1] / "kubeapi" / "charts" / "sample" / "crds" / "gadgets.yaml"
)
OBJECTS = """
apiVersion: v1
kind: ConfigMap
metadata: {name: note}
data: {text: hi}
---
apiVersion: example.com/v1
kind: Gadget
metadata: {name: widget}
spec: {size: 3}
"""


def _lines(text: str) -> list[str]:
    return [" ".join(line.split()) for line in text.splitlines()]


def _described(kubectl: Kubectl, *what: str) -> list[str]:
    done = kubectl("describe", *what)
    assert done.stderr == "", done.stderr
    return _lines(done.stdout)


def _has(lines: list[str], *wanted: str) -> None:
    """Each of `wanted` starts some line (whitespace runs as one space)."""
    missing = [w for w in wanted if not any(line.startswith(w) for line in lines)]
    assert not missing, f"missing {missing} in:\n" + "\n".join(lines)


def _event(lines: list[str], reason: str, rest: str) -> None:
    """An event row: type, reason, age, then from and message ending the line."""
    rows = [x for x in lines if x.startswith(f"Normal {reason} ") and x.endswith(rest)]
    assert rows, f"no {reason} event ending {rest!r} in:\n" + "\n".join(lines)


def test_describe_shows_every_section_and_the_events(
    make_cluster: type[LocalCluster], tmp_path: Path
) -> None:
    c = make_cluster("t-kdescribe")
    c.up()
    kubectl = Kubectl(Path(c.podtap("local", "kubeconfig").stdout.strip()), tmp_path)
    kubectl("apply", "-f", str(CRD))
    kubectl("wait", "--for=condition=Established", "crd/gadgets.example.com")
    kubectl("apply", "-f", "-", stdin=HELLO + "---" + OBJECTS)
    kubectl("rollout", "status", "deployment/hello", "--timeout=60s")
    (rs,) = kubectl.json("replicasets", "-l", "app=hello")["items"]
    rs_name = rs["metadata"]["name"]
    pod = kubectl.json("pods", "-l", "app=hello")["items"][0]
    pod_name, pod_ip = pod["metadata"]["name"], pod["status"]["podIP"]

    lines = _described(kubectl, "pod", pod_name)
    _has(lines, f"Name: {pod_name}", "Namespace: default", "Node: podtap-local/10.244.0.1")
    _has(lines, "Status: Running", f"IP: {pod_ip}", f"Controlled By: ReplicaSet/{rs_name}")
    _has(lines, "Containers:", "Conditions:", "Ready True", "Volumes:", "QoS Class:", "Events:")
    _event(
        lines,
        "Scheduled",
        f"default-scheduler Successfully assigned default/{pod_name} to podtap-local",
    )
    _event(lines, "Created", "kubelet spec.containers{web}: Created container: web")
    _event(lines, "Started", "kubelet spec.containers{web}: Started container web")

    lines = _described(kubectl, "deployment", "hello")
    _has(lines, "Replicas: 2 desired | 2 updated | 2 total | 2 available | 0 unavailable")
    _has(lines, "StrategyType: RollingUpdate", "Pod Template:", "Conditions:")
    _has(lines, f"NewReplicaSet: {rs_name} (2/2 replicas created)", "Events:")
    _event(
        lines,
        "ScalingReplicaSet",
        f"deployment-controller Scaled up replica set {rs_name} from 0 to 2",
    )

    lines = _described(kubectl, "replicaset", rs_name)
    _has(lines, "Controlled By: Deployment/hello", "Replicas: 2 current / 2 desired")
    _has(lines, "Pods Status: 2 Running / 0 Waiting / 0 Succeeded / 0 Failed", "Events:")
    created = [line for line in lines if line.startswith("Normal SuccessfulCreate")]
    assert len(created) == 2 and all("replicaset-controller Created pod: " in x for x in created)

    lines = _described(kubectl, "service", "hello")
    _has(lines, "Selector: app=hello", "Type: ClusterIP", "IP:", "Endpoints:", "Events: <none>")
    (endpoints,) = [line for line in lines if line.startswith("Endpoints:")]
    assert f"{pod_ip}:8000" in endpoints

    lines = _described(kubectl, "node", "podtap-local")
    _has(lines, "Name: podtap-local", "Conditions:", "Addresses:", "InternalIP: 10.244.0.1")
    _has(lines, "Lease:", "HolderIdentity: podtap-local", "Capacity:", "Allocatable:", "pods: 110")
    _has(lines, "Non-terminated Pods: (2 in total)", "cpu 0 (0%) 0 (0%)", "Events:")

    lines = _described(kubectl, "namespace", "default")
    _has(lines, "Name: default", "Status: Active", "No resource quota.", "No LimitRange resource.")

    lines = _described(kubectl, "configmap", "note")
    _has(lines, "Name: note", "Data", "text:", "hi", "Events: <none>")

    lines = _described(kubectl, "gadget", "widget")
    _has(lines, "Name: widget", "API Version: example.com/v1", "Kind: Gadget", "Spec:", "Size: 3")
    _has(lines, "Events: <none>")
    c.down()
