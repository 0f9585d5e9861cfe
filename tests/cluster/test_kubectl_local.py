"""The real kubectl against `podtap local up` (issue 12): one store behind both front doors.

The cluster serves the Kubernetes API on 127.0.0.1 from its node; `podtap local kubeconfig`
names the admin kubeconfig. Pods that kubectl creates run, pods that podtap runs are
listed by kubectl with their status, and deleting through either side removes them."""

from __future__ import annotations

import json
import os
import socket
import stat
import subprocess
from pathlib import Path
from typing import Any

import yaml

from podtap.testing.localcluster import LocalCluster
from podtap.testing.wait import wait_until
from tests.kubeapi.server import tools

EXAMPLES = Path(__file__).resolve().parents[2] / "examples"
SERVER = (
    "import http.server as h, socket; h.HTTPServer(('', 8000), type('H', "
    "(h.BaseHTTPRequestHandler,), {'do_GET': lambda s: (s.send_response(200), "
    "s.end_headers(), s.wfile.write(socket.gethostname().encode()))})).serve_forever()"
)
HELLO = """
apiVersion: apps/v1
kind: Deployment
metadata: {name: hello, labels: {app: hello}}
spec:
  replicas: 2
  selector: {matchLabels: {app: hello}}
  template:
    metadata: {labels: {app: hello}}
    spec:
      containers:
        - name: web
          image: python:3
          command: ["python3", "-c", "SERVER"]
          ports: [{containerPort: 8000}]
          readinessProbe: {tcpSocket: {port: 8000}, periodSeconds: 1}
---
apiVersion: v1
kind: Service
metadata: {name: hello}
spec:
  selector: {app: hello}
  ports: [{port: 80, targetPort: 8000}]
""".replace("SERVER", SERVER)
NOTE = "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: note}\ndata: {text: from-podtap}\n"


class Kubectl:
    def __init__(self, config: Path, home: Path) -> None:
        self.bin = tools() / "kubectl"
        self.env = {**os.environ, "KUBECONFIG": str(config), "HOME": str(home)}

    def __call__(
        self, *args: str, ok: bool = True, stdin: str = "", config: Path | None = None
    ) -> subprocess.CompletedProcess[str]:
        env = self.env if config is None else {**self.env, "KUBECONFIG": str(config)}
        done = subprocess.run(
            [str(self.bin), *args], input=stdin, capture_output=True, text=True, env=env, timeout=90
        )
        if ok:
            assert done.returncode == 0, f"kubectl {' '.join(args)}: {done.stderr}"
        return done

    def json(self, *args: str) -> Any:
        return json.loads(self("get", *args, "-o", "json").stdout)


def _ready(pod: dict[str, Any]) -> bool:
    conditions = pod["status"].get("conditions") or []
    return any(c["type"] == "Ready" and c["status"] == "True" for c in conditions)


def test_kubectl_drives_the_local_cluster(make_cluster: type[LocalCluster], tmp_path: Path) -> None:
    c = make_cluster("t-kubectl")
    c.up(EXAMPLES / "shop")
    config = Path(c.podtap("local", "kubeconfig").stdout.strip())
    assert config.is_file() and stat.S_IMODE(config.stat().st_mode) == 0o600
    kubectl = Kubectl(config, tmp_path)

    # The shop's pods as kubectl sees them: what the node runs, with its status.
    pods = kubectl.json("pods", "-A")["items"]
    runtime = {p["name"]: p for p in c.pods()}
    assert sorted(p["metadata"]["name"] for p in pods) == sorted(runtime)
    for pod in pods:
        name, status = pod["metadata"]["name"], pod["status"]
        assert status["phase"] == "Running" and _ready(pod), status
        assert status["podIP"] == runtime[name]["ip"] and status["hostIP"] == "10.244.0.1"
        assert pod["spec"]["nodeName"] == "podtap-local"
        (container,) = status["containerStatuses"]
        pid = runtime[name]["containers"][0]["pid"]
        assert container["containerID"] == f"podtap://{pid}" and container["ready"]
        assert pod["metadata"]["ownerReferences"][0]["kind"] == "ReplicaSet"  # of a Deployment
    table = kubectl("get", "pods", "-A").stdout
    assert all(line.split()[3] == "Running" for line in table.splitlines()[1:]), table

    # A Deployment applied with kubectl runs, becomes ready, and answers through its Service.
    kubectl("apply", "-f", "-", stdin=HELLO)
    kubectl("rollout", "status", "deployment/hello", "--timeout=60s")
    kubectl("wait", "--for=condition=Ready", "pod", "-l", "app=hello", "--timeout=60s")
    deployment = kubectl.json("deployment", "hello")
    assert deployment["status"]["readyReplicas"] == deployment["status"]["availableReplicas"] == 2
    hello = sorted(p["metadata"]["name"] for p in kubectl.json("pods", "-l", "app=hello")["items"])
    assert sorted(p["name"] for p in c.pods("hello-")) == hello
    assert c.curl("http://hello/") in hello

    # One store: podtap writes what kubectl reads, and the other way round.
    c.podtap("local", "apply", "-f", str(_write(tmp_path, "note.yaml", NOTE)))
    assert kubectl.json("configmap", "note")["data"] == {"text": "from-podtap"}
    assert [d["metadata"]["name"] for d in c.get("deployments")] == ["catalog", "hello", "shop"]

    # kubectl delete removes a pod (its Deployment makes another); deleting the Deployment
    # takes its pods along.
    kubectl("delete", "pod", hello[0])
    wait_until(
        lambda: hello[0] not in {p["name"] for p in c.pods("hello-")},
        timeout=20,
        what="the deleted pod to stop",
    )
    kubectl("rollout", "status", "deployment/hello", "--timeout=60s")
    kubectl("delete", "deployment", "hello")
    wait_until(lambda: not c.pods("hello-"), timeout=20, what="the deployment's pods to stop")
    assert kubectl.json("pods", "-l", "app=hello")["items"] == []

    # What the node cannot run is refused when written, naming the field.
    refused = kubectl("create", "deployment", "nginx", "--image=nginx", ok=False)
    assert refused.returncode != 0
    assert 'Deployment.apps "nginx" is invalid: spec.template.spec' in refused.stderr
    assert "command is required in the local cluster" in refused.stderr
    assert kubectl("get", "deployment", "nginx", ok=False).returncode != 0

    # A limited user's kubeconfig, for any local account: written where asked, 0644.
    shared = tmp_path / "alice.kubeconfig"
    c.podtap("local", "kubeconfig", "--user", "alice", "--group", "dev", "--out", str(shared))
    assert stat.S_IMODE(shared.stat().st_mode) == 0o644
    who = kubectl("auth", "whoami", "-o", "json", config=shared).stdout
    assert json.loads(who)["status"]["userInfo"]["username"] == "alice"
    denied = kubectl("get", "pods", ok=False, config=shared)
    assert denied.returncode != 0 and 'User "alice" cannot list resource "pods"' in denied.stderr
    printed = yaml.safe_load(c.podtap("local", "kubeconfig", "--user", "bob").stdout)
    assert printed["users"][0]["user"]["client-certificate-data"]

    port = int(
        yaml.safe_load(config.read_text())["clusters"][0]["cluster"]["server"].rsplit(":", 1)[1]
    )
    c.down()
    with socket.socket() as s:
        assert s.connect_ex(("127.0.0.1", port)) != 0, "the API port still answers after down"


def _write(tmp_path: Path, name: str, text: str) -> Path:
    path = tmp_path / name
    path.write_text(text)
    return path
