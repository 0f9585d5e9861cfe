"""kubelet's probes in `podtap local up`, through the real kubectl: an HTTPS readiness probe
(a self-signed certificate, not verified) on a port named in the container makes the pod
Ready; a liveness probe that starts failing gets the container killed and started again
(restartCount 1, a new process, lastState.terminated), with kubelet's Unhealthy and
Killing events."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path
from typing import Any

from podtap.testing.localcluster import LocalCluster
from podtap.testing.wait import wait_until
from tests.cluster.test_kubectl_local import Kubectl

# 200 while the request has `X-Probe: yes` (the probe's httpHeaders) and no `sick` file is
# in its directory; a new process starts healthy (it removes the file).
SERVER = """
import http.server, os, ssl, sys
here = os.path.dirname(os.path.abspath(__file__))
sick = os.path.join(here, "sick")
if os.path.exists(sick):
    os.remove(sick)
class Handler(http.server.BaseHTTPRequestHandler):
    def do_GET(self):
        ok = self.headers.get("X-Probe") == "yes" and not os.path.exists(sick)
        self.send_response(200 if ok else 500)
        self.end_headers()
    def log_message(self, *args):
        pass
server = http.server.HTTPServer(("0.0.0.0", int(sys.argv[1])), Handler)
if sys.argv[2] == "tls":
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(os.path.join(here, "tls.crt"), os.path.join(here, "tls.key"))
    server.socket = context.wrap_socket(server.socket, server_side=True)
server.serve_forever()
"""


def _pod(name: str, *, data: Path, port: int, mode: str, probes: str) -> str:
    return f"""
apiVersion: v1
kind: Pod
metadata: {{name: {name}, labels: {{probed: "yes"}}}}
spec:
  volumes: [{{name: data, hostPath: {{path: {data}, type: Directory}}}}]
  containers:
    - name: web
      image: python
      command: [{sys.executable}, /mnt/data/server.py, "{port}", {mode}]
      ports: [{{name: web, containerPort: {port}}}]
      volumeMounts: [{{name: data, mountPath: /mnt/data}}]
{probes}
"""


def _probe(kind: str, *, scheme: str, period: int, failures: int) -> str:
    return f"""      {kind}:
        httpGet:
          path: /healthz
          port: web
          scheme: {scheme}
          httpHeaders: [{{name: X-Probe, value: "yes"}}]
        periodSeconds: {period}
        failureThreshold: {failures}
"""


def _status(kubectl: Kubectl, pod: str) -> dict[str, Any]:
    status: dict[str, Any] = kubectl.json("pod", pod)["status"]["containerStatuses"][0]
    return status


def _pid(status: dict[str, Any]) -> int | None:
    cid = status.get("containerID")
    return int(cid.removeprefix("podtap://")) if cid and "running" in status["state"] else None


def test_http_probes(make_cluster: type[LocalCluster], tmp_path: Path) -> None:
    tls, live = tmp_path / "tls", tmp_path / "live"
    for where in (tls, live):
        where.mkdir()
        (where / "server.py").write_text(SERVER)
    subprocess.run(
        ["openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1",
         "-nodes", "-subj", "/CN=probed", "-days", "1",
         "-keyout", str(tls / "tls.key"), "-out", str(tls / "tls.crt")],
        check=True, capture_output=True,
    )  # fmt: skip
    c = make_cluster("t-probes")
    c.up()
    kubectl = Kubectl(Path(c.podtap("local", "kubeconfig").stdout.strip()), tmp_path)
    secure = _probe("readinessProbe", scheme="HTTPS", period=1, failures=3)
    lively = _probe("readinessProbe", scheme="HTTP", period=1, failures=3) + _probe(
        "livenessProbe", scheme="HTTP", period=1, failures=2
    )
    budget = """
apiVersion: policy/v1
kind: PodDisruptionBudget
metadata: {name: probed}
spec: {minAvailable: 1, selector: {matchLabels: {probed: "yes"}}}
"""
    manifests = [
        budget,
        _pod("secure", data=tls, port=8443, mode="tls", probes=secure),
        _pod("lively", data=live, port=8080, mode="plain", probes=lively),
    ]
    kubectl("apply", "-f", "-", stdin="---".join(manifests))
    kubectl("wait", "--for=condition=Ready", "pod/secure", "pod/lively", "--timeout=60s")
    assert _status(kubectl, "secure")["ready"] is True
    # The disruption controller counts the two ready pods: one may go.
    wait_until(
        lambda: kubectl.json("pdb", "probed").get("status", {}).get("currentHealthy") == 2,
        timeout=10,
        what="the budget's healthy pods",
    )
    status = kubectl.json("pdb", "probed")["status"]
    assert (status["desiredHealthy"], status["expectedPods"], status["disruptionsAllowed"]) == (
        1,
        2,
        1,
    )

    before = _status(kubectl, "lively")
    assert before["restartCount"] == 0 and "lastState" not in before
    old_pid = _pid(before)
    assert old_pid is not None
    (live / "sick").touch()  # the liveness probe fails from now on, twice: killed
    after = wait_until(
        lambda: (s := _status(kubectl, "lively"))["restartCount"] == 1 and _pid(s) and s,
        timeout=30,
        what="the container restarted after its liveness probe failed",
    )
    assert _pid(after) != old_pid
    assert after["lastState"]["terminated"]["reason"] == "Error"
    assert after["lastState"]["terminated"]["exitCode"] != 0
    kubectl("wait", "--for=condition=Ready", "pod/lively", "--timeout=30s")
    assert _status(kubectl, "lively")["restartCount"] == 1  # the new process is healthy

    events = kubectl.json("events", "--field-selector", "involvedObject.name=lively")["items"]
    said = {(e["type"], e["reason"], e["message"]) for e in events}
    failed = "Liveness probe failed: HTTP probe failed with statuscode: 500"
    assert ("Warning", "Unhealthy", failed) in said, said
    killing = "Container web failed liveness probe, will be restarted"
    assert ("Normal", "Killing", killing) in said, said
    described = kubectl("describe", "pod", "lively").stdout
    assert "Liveness:" in described and "http-get http://:web/healthz" in described
