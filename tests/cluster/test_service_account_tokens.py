"""Bound service-account tokens on `podtap local up`, with the real kubectl.

Each pod's mounted token is its own: a JWT of its account bound to the pod (TokenReview shows
the pod), which reaches kubernetes.default.svc under RBAC; `kubectl create token` tokens
work with `kubectl --token` and a pod-bound one stops when its pod goes; a Service has its
cluster IP in the create response."""

from __future__ import annotations

import base64
import json
from pathlib import Path
from typing import Any

from podtap.backends.local.kubeapi.tokens import ISSUER
from podtap.testing.localcluster import LocalCluster
from podtap.testing.wait import wait_until
from tests.cluster.test_kubectl_cluster_services import CLIENT, SA
from tests.cluster.test_kubectl_local import Kubectl

POD = """
apiVersion: v1
kind: Pod
metadata: {name: holder, namespace: sat}
spec:
  containers:
    - name: main
      image: python:3
      command: ["python3", "-c", "CODE"]
""".replace("CODE", f"import time; print(open('{SA}/token').read(), flush=True); time.sleep(3600)")


def claims(token: str) -> dict[str, Any]:
    part = token.split(".")[1] if token.count(".") == 2 else ""
    if not part:
        return {}
    return dict(json.loads(base64.urlsafe_b64decode(part + "=" * (-len(part) % 4))))


def review(kubectl: Kubectl, token: str) -> dict[str, Any]:
    body = {"apiVersion": "authentication.k8s.io/v1", "kind": "TokenReview",
            "spec": {"token": token}}  # fmt: skip
    out = kubectl("create", "-f", "-", "-o", "json", stdin=json.dumps(body)).stdout
    return dict(json.loads(out)["status"])


def test_pods_hold_their_own_bound_tokens(make_cluster: type[LocalCluster], tmp_path: Path) -> None:
    c = make_cluster("t-satokens")
    c.up()
    kubectl = Kubectl(Path(c.podtap("local", "kubeconfig").stdout.strip()), tmp_path)
    kubectl("create", "namespace", "sat")
    wait_until(
        lambda: kubectl("get", "serviceaccount", "default", "-n", "sat", ok=False).returncode == 0,
        timeout=10,
        what="the default service account",
    )
    made = kubectl("create", "service", "clusterip", "web", "-n", "sat", "--tcp=80", "-o", "json")
    assert json.loads(made.stdout)["spec"]["clusterIP"].startswith("10.96.")

    kubectl("apply", "-f", "-", stdin=POD)
    kubectl("wait", "pod/holder", "-n", "sat", "--for=condition=Ready", "--timeout=30s")
    uid = kubectl.json("pod", "holder", "-n", "sat")["metadata"]["uid"]

    def mounted() -> str:
        done = kubectl("exec", "holder", "-n", "sat", "--", "cat", f"{SA}/token", ok=False)
        return done.stdout

    wait_until(
        lambda: claims(mounted()).get("kubernetes.io", {}).get("pod", {}).get("uid") == uid,
        timeout=15,
        what="the pod's mounted token bound to the pod",
    )
    token = mounted()
    # What the container read as it started was already its own token.
    assert claims(kubectl("logs", "holder", "-n", "sat").stdout)["kubernetes.io"]["pod"] == {
        "name": "holder",
        "uid": uid,
    }
    got = claims(token)
    assert (got["iss"], got["aud"], got["sub"]) == (
        ISSUER,
        [ISSUER],
        "system:serviceaccount:sat:default",
    )
    assert got["exp"] - got["iat"] == 3607  # the projection's expirationSeconds
    status = review(kubectl, token)
    assert status["authenticated"] and status["user"]["username"] == (
        "system:serviceaccount:sat:default"
    )
    assert status["user"]["extra"]["authentication.kubernetes.io/pod-name"] == ["holder"]
    assert status["user"]["extra"]["authentication.kubernetes.io/pod-uid"] == [uid]

    # The pod reaches the API with it, under RBAC.
    def from_pod() -> dict[str, Any]:
        done = kubectl("exec", "holder", "-n", "sat", "--", "python3", "-c", CLIENT, ok=False)
        return dict(json.loads(done.stdout.strip().splitlines()[-1]))

    assert from_pod()["code"] == 403
    kubectl("create", "rolebinding", "sa-view", "-n", "sat", "--clusterrole=view",
            "--serviceaccount=sat:default")  # fmt: skip
    assert from_pod() == {"code": 200, "ns": "sat", "env": "10.96.0.1:443"}

    # kubectl create token, bound to the pod: good until the pod goes.
    asked = kubectl("create", "token", "default", "-n", "sat", "--bound-object-kind=Pod",
                    "--bound-object-name=holder").stdout.strip()  # fmt: skip
    listed = kubectl("get", "pods", "-n", "sat", f"--token={asked}", "-o", "name")
    assert listed.stdout == "pod/holder\n"
    kubectl("delete", "pod", "holder", "-n", "sat", "--wait=true", "--timeout=30s")
    refused = kubectl("get", "pods", "-n", "sat", f"--token={asked}", ok=False)
    assert "error: You must be logged in to the server (Unauthorized)" in refused.stderr
    assert review(kubectl, token) == {
        "user": {},
        "error": "[invalid bearer token, service account token has been invalidated]",
    }
