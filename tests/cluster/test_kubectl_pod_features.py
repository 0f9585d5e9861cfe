"""The pod features podtap's agent pods need, through the real kubectl against `podtap local
up`: hostPID, capabilities and privileged, runAsUser, hostPath volumes, nodeName, the
downward API, and the admission that refuses what the node cannot honour."""

from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path
from typing import Any

from podtap.backends.local.capabilities import DEFAULT, capability_set, mask, node_bounding
from podtap.testing.localcluster import LocalCluster
from podtap.testing.wait import wait_until
from tests.cluster.test_kubectl_local import Kubectl

SLEEP = '["sleep", "3600"]'
FIELDS = {
    "NAME": "metadata.name",
    "NS": "metadata.namespace",
    "UID": "metadata.uid",
    "ROLE": "metadata.labels['role']",
    "NOTE": "metadata.annotations['note']",
    "NODE": "spec.nodeName",
    "SA": "spec.serviceAccountName",
    "HOST_IP": "status.hostIP",
    "HOST_IPS": "status.hostIPs",
    "POD_IP": "status.podIP",
    "POD_IPS": "status.podIPs",
}


def _pod(name: str, *, spec: str = "", container: str = "") -> str:
    return f"""
apiVersion: v1
kind: Pod
metadata: {{name: {name}, labels: {{role: {name}}}, annotations: {{note: hello-{name}}}}}
spec:
  {spec or "restartPolicy: Always"}
  containers:
    - name: app
      image: busybox
      command: {SLEEP}
      {container or "env: []"}
"""


def _agent(data: Path) -> str:
    env = ", ".join(
        f'{{name: {k}, valueFrom: {{fieldRef: {{fieldPath: "{v}"}}}}}}' for k, v in FIELDS.items()
    )
    return _pod(
        "agent",
        spec=f"""hostPID: true
  nodeName: podtap-local
  volumes:
    - {{name: ro, hostPath: {{path: {data}, type: Directory}}}}
    - {{name: rw, hostPath: {{path: {data}/made, type: DirectoryOrCreate}}}}""",
        container=f"""securityContext: {{privileged: true}}
      env: [{env}]
      volumeMounts:
        - {{name: ro, mountPath: /mnt/data, readOnly: true}}
        - {{name: rw, mountPath: /mnt/made}}""",
    )


def _caps(kubectl: Kubectl, pod: str) -> dict[str, str]:
    out = kubectl("exec", pod, "--", "grep", "Cap", "/proc/self/status").stdout
    return {k: v.strip() for k, v in (line.split(":") for line in out.splitlines())}


def _running(kubectl: Kubectl, *pods: str) -> None:
    kubectl("wait", "--for=condition=Ready", *(f"pod/{p}" for p in pods), "--timeout=60s")


def test_agent_pod_features(make_cluster: type[LocalCluster], tmp_path: Path) -> None:
    c = make_cluster("t-podfeat")
    c.up()
    config = Path(c.podtap("local", "kubeconfig").stdout.strip())
    kubectl = Kubectl(config, tmp_path)
    data = tmp_path / "data"
    data.mkdir()
    (data / "hello.txt").write_text("from the node\n")
    manifests = [
        "apiVersion: v1\nkind: Service\nmetadata: {name: links}\nspec: {ports: [{port: 80}]}\n",
        _pod("nolinks", spec="enableServiceLinks: false"),
        _agent(data),
        _pod("target"),
        _pod(
            "admin", container="securityContext: {capabilities: {add: [NET_ADMIN], drop: [KILL]}}"
        ),
        _pod("bare", container="securityContext: {capabilities: {drop: [ALL]}}"),
        _pod("user", spec="securityContext: {runAsUser: 1234, runAsGroup: 1234}"),
    ]
    kubectl("apply", "-f", "-", stdin="---".join(manifests))
    _running(kubectl, "agent", "target", "admin", "bare", "user", "nolinks")
    target = kubectl.json("pod", "target")
    pid = int(target["status"]["containerStatuses"][0]["containerID"].removeprefix("podtap://"))

    # hostPID: the agent is in the node's PID namespace and sees the other pod's process by
    # the pid the node reports; the target pod keeps its own PID namespace.
    node_pidns = os.readlink(f"/proc/{os.getpid()}/ns/pid")
    assert (
        kubectl("exec", "agent", "--", "readlink", "/proc/self/ns/pid").stdout.strip() == node_pidns
    )
    assert (
        kubectl("exec", "target", "--", "readlink", "/proc/self/ns/pid").stdout.strip()
        != node_pidns
    )
    assert (
        kubectl("exec", "agent", "--", "cat", f"/proc/{pid}/cmdline").stdout.split("\0")[0]
        == "sleep"
    )
    assert kubectl("exec", "agent", "--", "kill", "-0", str(pid)).returncode == 0
    assert kubectl("exec", "target", "--", "kill", "-0", str(pid), ok=False).returncode != 0
    addr = kubectl(
        "exec", "agent", "--", "nsenter", f"--net=/proc/{pid}/ns/net", "ip", "-4", "-o", "addr"
    ).stdout
    assert target["status"]["podIP"] in addr, addr

    # Capabilities: containerd's default set, plus adds, minus drops; all when privileged;
    # the same for kubectl exec and the container's main process.
    default = f"{mask(DEFAULT & node_bounding()):016x}"
    added = capability_set(add=["NET_ADMIN"], drop=["KILL"], privileged=False)
    admin = f"{mask(added & node_bounding()):016x}"
    assert _caps(kubectl, "target")["CapEff"] == _caps(kubectl, "target")["CapBnd"] == default
    got = _caps(kubectl, "admin")
    assert got["CapBnd"] == got["CapEff"] == got["CapPrm"] == admin
    assert _caps(kubectl, "agent")["CapEff"] == f"{mask(node_bounding()):016x}"
    assert _caps(kubectl, "bare")["CapBnd"] == "0" * 16
    main = Path(f"/proc/{pid}/status").read_text()
    assert f"CapBnd:\t{default}" in main
    # NET_ADMIN lets a pod make a link (a veth pair: this machine's kernel has no dummy
    # type, `ip link add dummy0 type dummy` fails there even for the host's root).
    link = ["ip", "link", "add", "v0", "type", "veth", "peer", "name", "v1"]
    assert kubectl("exec", "admin", "--", *link).returncode == 0
    no_admin = kubectl("exec", "target", "--", *link, ok=False)
    assert "Operation not permitted" in no_admin.stderr, no_admin.stderr
    assert kubectl("exec", "user", "--", "id", "-u").stdout.strip() == "1234"
    assert kubectl("exec", "user", "--", "id", "-g").stdout.strip() == "1234"

    # hostPath: the node's files, read-only where asked; DirectoryOrCreate made the directory.
    assert kubectl("exec", "agent", "--", "cat", "/mnt/data/hello.txt").stdout == "from the node\n"
    ro = kubectl("exec", "agent", "--", "touch", "/mnt/data/new", ok=False)
    assert ro.returncode != 0 and "Read-only file system" in ro.stderr, ro.stderr
    kubectl("exec", "agent", "--", "sh", "-c", "echo from-pod > /mnt/made/out")
    assert (data / "made" / "out").read_text() == "from-pod\n"

    # nodeName and the downward API, as kubelet fills them in.
    agent = kubectl.json("pod", "agent")
    assert agent["spec"]["nodeName"] == "podtap-local"
    env = dict(
        line.split("=", 1)
        for line in kubectl("exec", "agent", "--", "env").stdout.splitlines()
        if line.split("=", 1)[0] in FIELDS
    )
    status = agent["status"]
    assert env == {
        "NAME": "agent", "NS": "default", "UID": agent["metadata"]["uid"], "ROLE": "agent",
        "NOTE": "hello-agent", "NODE": "podtap-local", "SA": "default",
        "HOST_IP": status["hostIP"], "HOST_IPS": status["hostIP"],
        "POD_IP": status["podIP"], "POD_IPS": status["podIP"],
    }  # fmt: skip

    # enableServiceLinks: false leaves out the Services' variables, not the API server's.
    assert kubectl("exec", "target", "--", "printenv", "LINKS_SERVICE_HOST").stdout.strip()
    assert kubectl("exec", "nolinks", "--", "printenv", "LINKS_SERVICE_HOST", ok=False).returncode
    assert kubectl("exec", "nolinks", "--", "printenv", "KUBERNETES_SERVICE_HOST").stdout.strip()

    # A hostPath of the wrong type keeps the pod from starting, with kubelet's reason.
    volume = f"volumes: [{{name: s, hostPath: {{path: {data}/hello.txt, type: Socket}}}}]"
    mount = "volumeMounts: [{name: s, mountPath: /mnt/s}]"
    kubectl("apply", "-f", "-", stdin=_pod("wrong", spec=volume, container=mount))
    wait_until(
        lambda: "is not a socket file" in json.dumps(kubectl.json("pod", "wrong")["status"]),
        timeout=30,
        what="the hostPath type refusal",
    )
    c.down()


def _refused(kubectl: Kubectl, manifest: str) -> str:
    done = kubectl("apply", "-f", "-", stdin=manifest, ok=False)
    assert done.returncode != 0, done.stdout
    return done.stderr


def _workload(kind: str, api: str, body: str) -> str:
    return f"apiVersion: {api}\nkind: {kind}\nmetadata: {{name: w}}\nspec:\n{body}"


def _template(change: str, *, indent: str) -> str:
    return "\n".join(
        indent + line
        for line in [
            "metadata: {labels: {app: w}}",
            "spec:",
            f"  {change}",
            '  containers: [{name: app, image: busybox, command: ["sleep", "60"]}]',
        ]
    )


def _kinds(change: str) -> dict[str, str]:
    """A manifest of each kind whose pods the node runs, `change` in the pod spec."""
    sel = "  selector: {matchLabels: {app: w}}\n"
    t = _template(change, indent="    ")
    done = "restartPolicy: Never\n      " + change
    return {
        "Deployment": _workload("Deployment", "apps/v1", f"{sel}  template:\n{t}"),
        "ReplicaSet": _workload("ReplicaSet", "apps/v1", f"{sel}  template:\n{t}"),
        "StatefulSet": _workload(
            "StatefulSet", "apps/v1", f"{sel}  serviceName: w\n  template:\n{t}"
        ),
        "DaemonSet": _workload("DaemonSet", "apps/v1", f"{sel}  template:\n{t}"),
        "Job": _workload("Job", "batch/v1", f"  template:\n{_template(done, indent='    ')}"),
        "CronJob": _workload(
            "CronJob",
            "batch/v1",
            '  schedule: "* * * * *"\n  jobTemplate:\n    spec:\n      template:\n'
            + _template(done.replace("\n      ", "\n          "), indent="        "),
        ),
    }


def test_admission_refuses_what_the_node_cannot_honour(
    make_cluster: type[LocalCluster], tmp_path: Path
) -> None:
    c = make_cluster("t-podadm")
    c.up()
    kubectl = Kubectl(Path(c.podtap("local", "kubeconfig").stdout.strip()), tmp_path)
    refused = _refused(kubectl, _pod("p", spec="hostNetwork: true"))
    assert 'The Pod "p" is invalid: spec.hostNetwork: Forbidden: the embedded cluster cannot' in (
        refused
    )
    other = _refused(kubectl, _pod("p", spec="nodeName: worker-2"))
    assert "spec.nodeName: Invalid value: 'worker-2'" in other
    assert "the embedded cluster has one node, 'podtap-local'" in other
    for kind, manifest in _kinds("hostIPC: true").items():
        at = "spec.jobTemplate.spec.template.spec" if kind == "CronJob" else "spec.template.spec"
        message = _refused(kubectl, manifest)
        assert f"{at}.hostIPC: Forbidden" in message, (kind, message)
    for kind, manifest in _kinds("terminationGracePeriodSeconds: 5").items():
        kubectl("apply", "-f", "-", stdin=manifest)
        kubectl("delete", kind.lower(), "w", "--wait=false")
    # podtap local apply of a batch is all or nothing: the refused pod keeps the ConfigMap
    # before it out too
    note = "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: before}\ndata: {a: b}\n"
    batch = tmp_path / "batch.yaml"
    batch.write_text(note + "---\n" + _pod("p", spec="hostNetwork: true"))
    done = c.podtap("local", "apply", "-f", str(batch), check=False)
    assert done.returncode == 1 and "spec.hostNetwork: Forbidden" in done.stderr, done
    assert "before" not in kubectl("get", "configmaps", "-o", "name").stdout
    c.down()


def _patch_ephemeral(kubectl: Kubectl, op: str) -> str:
    done = kubectl(
        "patch", "pod", "target", "--subresource=ephemeralcontainers", "--type=json", "-p", op,
        ok=False,
    )  # fmt: skip
    assert done.returncode != 0, done.stdout
    return done.stderr


def test_kubectl_debug_adds_an_ephemeral_container(
    make_cluster: type[LocalCluster], tmp_path: Path
) -> None:
    c = make_cluster("t-poddebug")
    c.up()
    kubectl = Kubectl(Path(c.podtap("local", "kubeconfig").stdout.strip()), tmp_path)
    kubectl("apply", "-f", "-", stdin=_pod("target"))
    _running(kubectl, "target")
    before = kubectl.json("pod", "target")
    app_id = before["status"]["containerStatuses"][0]["containerID"]
    script = "echo debugging; readlink /proc/self/ns/net; while sleep 0.5; do echo tick; done"
    kubectl("debug", "target", "--image=busybox", "--target=app", "-c", "debugger", "--",
            "sh", "-c", script)  # fmt: skip

    def debugger() -> dict[str, Any] | None:
        statuses = kubectl.json("pod", "target")["status"].get("ephemeralContainerStatuses")
        return next((s for s in statuses or [] if "running" in s["state"]), None)

    status = wait_until(debugger, timeout=30, what="the debugger running")
    assert status is not None and status["name"] == "debugger" and not status["ready"]
    pod = kubectl.json("pod", "target")
    assert pod["metadata"]["uid"] == before["metadata"]["uid"]
    assert pod["status"]["containerStatuses"][0]["containerID"] == app_id  # not restarted
    assert pod["status"]["containerStatuses"][0]["ready"]

    # The command is what runs, in the pod's network namespace, its log read by name.
    app_pid = int(app_id.removeprefix("podtap://"))
    netns = os.readlink(f"/proc/{app_pid}/ns/net")
    wait_until(
        lambda: kubectl("logs", "target", "-c", "debugger").stdout.startswith(
            f"debugging\n{netns}\ntick\n"
        ),
        timeout=20,
        what="the debugger's log",
    )
    debug_pid = int(status["containerID"].removeprefix("podtap://"))
    assert os.readlink(f"/proc/{debug_pid}/ns/pid") == os.readlink(f"/proc/{app_pid}/ns/pid")
    assert kubectl("exec", "target", "-c", "debugger", "--", "hostname").stdout.strip() == "target"
    attach = subprocess.Popen(
        [str(kubectl.bin), "attach", "target", "-c", "debugger"],
        env=kubectl.env, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True,
    )  # fmt: skip
    try:
        assert attach.stdout is not None
        out = attach.stdout
        wait_until(lambda: out.readline() == "tick\n", timeout=20, what="attach to the debugger")
    finally:
        attach.kill()
        attach.wait()

    # The subresource: GET answers the pod; entries are only ever added.
    raw = kubectl("get", "--raw", "/api/v1/namespaces/default/pods/target/ephemeralcontainers")
    assert json.loads(raw.stdout)["spec"]["ephemeralContainers"][0]["name"] == "debugger"
    removal = '[{"op": "remove", "path": "/spec/ephemeralContainers/0"}]'
    removed = _patch_ephemeral(kubectl, removal)
    assert 'existing ephemeral containers "debugger" may not be removed' in removed
    op = '[{"op": "replace", "path": "/spec/ephemeralContainers/0/command", "value": ["true"]}]'
    assert 'existing ephemeral containers "debugger" may not be changed' in _patch_ephemeral(
        kubectl, op
    )
    twin = '{"name": "app", "image": "x", "command": ["true"]}'
    add = f'[{{"op": "add", "path": "/spec/ephemeralContainers/-", "value": {twin}}}]'
    assert 'spec.ephemeralContainers[1].name: Duplicate value: "app"' in _patch_ephemeral(
        kubectl, add
    )
    main = kubectl("patch", "pod", "target", "--type=json", "-p", removal, ok=False)
    assert "pod updates may not change spec.ephemeralContainers" in main.stderr, main.stderr
    c.down()
