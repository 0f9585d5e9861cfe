"""In-cluster access and Services' endpoints on `podtap local up` (issue 12, items 1 and 6).

A pod finds the API server as every Kubernetes pod does: `KUBERNETES_SERVICE_HOST/PORT`,
`kubernetes.default.svc` (the `default/kubernetes` Service in front of the node's
10.244.0.1:6443), and its ServiceAccount's token and the cluster CA mounted at
/var/run/secrets/kubernetes.io/serviceaccount. RBAC decides what the account may do, and the
real kubectl sees the Endpoints and EndpointSlices the node keeps for Services."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from podtap.testing.localcluster import LocalCluster
from podtap.testing.wait import wait_until
from tests.cluster.test_kubectl_local import HELLO, Kubectl

SA = "/var/run/secrets/kubernetes.io/serviceaccount"
CLIENT = f"""
import json, os, ssl, sys, urllib.error, urllib.request
ns = open('{SA}/namespace').read()
token = open('{SA}/token').read()
ctx = ssl.create_default_context(cafile='{SA}/ca.crt')
url = 'https://kubernetes.default.svc/api/v1/namespaces/' + ns + '/pods'
req = urllib.request.Request(url, headers={{'Authorization': 'Bearer ' + token}})
try:
    code = urllib.request.urlopen(req, context=ctx, timeout=10).status
except urllib.error.HTTPError as e:
    code = e.code
get = os.environ.get
env = get('KUBERNETES_SERVICE_HOST', '') + ':' + get('KUBERNETES_SERVICE_PORT', '')
print(json.dumps({{'code': code, 'ns': ns, 'env': env}}))
sys.exit(0 if code == 200 and env == '10.96.0.1:443' else 1)
"""
PROBE = """
apiVersion: v1
kind: Pod
metadata: {name: probe, namespace: sat}
spec:
  restartPolicy: Never
  containers:
    - name: probe
      image: python:3
      command: ["python3", "-c", CLIENT]
""".replace("CLIENT", json.dumps(CLIENT))


def _up(c: LocalCluster, tmp_path: Path) -> tuple[LocalCluster, Kubectl]:
    c.up()
    return c, Kubectl(Path(c.podtap("local", "kubeconfig").stdout.strip()), tmp_path)


def _in_pod(c: LocalCluster, namespace: str) -> dict[str, Any]:
    # `podtap local run` gives its command its own environment, not the container's.
    done = c.run(["python3", "-c", CLIENT], namespace=namespace)
    assert done.stdout.strip(), done.stderr
    return json.loads(done.stdout.strip().splitlines()[-1])  # type: ignore[no-any-return]


def test_pods_reach_the_api_as_their_service_account(
    make_cluster: type[LocalCluster], tmp_path: Path
) -> None:
    c, kubectl = _up(make_cluster("t-insvc"), tmp_path)

    svc = kubectl.json("service", "kubernetes")
    assert svc["spec"]["clusterIP"] == "10.96.0.1"
    assert svc["spec"]["ports"][0]["port"] == 443
    (subset,) = kubectl.json("endpoints", "kubernetes")["subsets"]
    assert subset["addresses"] == [{"ip": "10.244.0.1"}] and subset["ports"][0]["port"] == 6443

    kubectl("create", "namespace", "sat")
    wait_until(
        lambda: kubectl("get", "serviceaccount", "default", "-n", "sat", ok=False).returncode == 0,
        timeout=10,
        what="the default service account",
    )

    # Without RBAC the account is known but may not list pods; with `view` it may.
    seen = _in_pod(c, "sat")
    assert (seen["code"], seen["ns"]) == (403, "sat"), seen
    kubectl(
        "create",
        "rolebinding",
        "sa-view",
        "-n",
        "sat",
        "--clusterrole=view",
        "--serviceaccount=sat:default",
    )
    assert _in_pod(c, "sat")["code"] == 200

    # The token authenticates as the account, TokenReview says so.
    secret = kubectl.json("secret", "default-token", "-n", "sat")
    review = {
        "apiVersion": "authentication.k8s.io/v1",
        "kind": "TokenReview",
        "spec": {"token": __import__("base64").b64decode(secret["data"]["token"]).decode()},
    }
    status = json.loads(kubectl("create", "-f", "-", "-o", "json", stdin=json.dumps(review)).stdout)
    user = status["status"]["user"]
    assert (
        status["status"]["authenticated"]
        and user["username"] == "system:serviceaccount:sat:default"
    )
    assert "system:serviceaccounts:sat" in user["groups"]

    # A pod kubectl creates gets the token volume from admission, like kube-api-access-xxxxx.
    kubectl("apply", "-f", "-", stdin=PROBE)
    pod = kubectl.json("pod", "probe", "-n", "sat")
    assert pod["spec"]["serviceAccountName"] == "default"
    (volume,) = [v for v in pod["spec"]["volumes"] if v["name"].startswith("kube-api-access-")]
    mount = pod["spec"]["containers"][0]["volumeMounts"][0]
    assert mount == {"name": volume["name"], "mountPath": SA, "readOnly": True}
    kubectl(
        "wait",
        "pod/probe",
        "-n",
        "sat",
        "--for=jsonpath={.status.phase}=Succeeded",
        "--timeout=30s",
    )


def _addresses(kubectl: Kubectl) -> list[str]:
    subsets = kubectl.json("endpoints", "hello").get("subsets") or []
    return sorted(a["ip"] for s in subsets for a in s.get("addresses") or [])


def test_services_get_endpoints_and_slices(
    make_cluster: type[LocalCluster], tmp_path: Path
) -> None:
    _, kubectl = _up(make_cluster("t-endpoints"), tmp_path)
    kubectl("apply", "-f", "-", stdin=HELLO)
    kubectl("rollout", "status", "deployment/hello", "--timeout=60s")
    ips = sorted(p["status"]["podIP"] for p in kubectl.json("pods", "-l", "app=hello")["items"])
    wait_until(lambda: _addresses(kubectl) == ips, timeout=10, what="two endpoints")
    (slice_,) = kubectl.json("endpointslices", "-l", "kubernetes.io/service-name=hello")["items"]
    assert sorted(e["addresses"][0] for e in slice_["endpoints"]) == ips
    assert all(e["conditions"]["ready"] for e in slice_["endpoints"])
    assert slice_["ports"] == [{"name": "", "port": 8000, "protocol": "TCP"}]
    assert "hello" in kubectl("get", "endpoints").stdout
    assert "hello" in kubectl("get", "endpointslices").stdout

    kubectl("scale", "deployment/hello", "--replicas=1")
    wait_until(lambda: len(_addresses(kubectl)) == 1, timeout=20, what="one endpoint")
    kubectl("delete", "service", "hello")
    wait_until(
        lambda: kubectl("get", "endpoints", "hello", ok=False).returncode != 0,
        timeout=10,
        what="the endpoints to go with the service",
    )
