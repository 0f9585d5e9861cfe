"""The operator of the chart behind an in-process API server that has no APIService for it,
reached by port-forward to its pod (`podtap.client.host.operator_forward`).

The API server is the real one of `tests.kubeapi.server.in_thread`, serving the kubelet's
plain-WebSocket port-forward; the only stand-in is its node: every pod's address is
127.0.0.1, where the real `podtap operator serve --kube` listens (a process of its own). The
chart's CRD and user RBAC are applied as helm renders them; the Service, its Endpoints, the
pod and the CA ConfigMap are written as the chart and the endpoints controller would.
"""

from __future__ import annotations

import base64
import contextlib
import json
import os
import socket
import ssl
import subprocess
import sys
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import yaml
from aiohttp import web

from podtap.backends.local.kubeapi import app as kubeapi_app
from podtap.backends.local.kubeapi.app import Running
from podtap.backends.local.kubeapi.auth import Identity
from podtap.backends.local.kubeapi.context import ApiContext
from podtap.backends.local.kubeapi.pki import ClusterCA
from podtap.backends.local.kubeapi.streams import POD_ACCESS
from podtap.client.host.operator_forward import SELECTOR
from podtap.testing.localcluster import podtap_argv
from podtap.testing.wait import wait_until
from tests.kubeapi.cli import run
from tests.kubeapi.server import in_thread, tools

CHART = Path(__file__).resolve().parents[2] / "charts" / "podtap-operator"
NS, SVC, POD = "podtap", "podtap-operator", "podtap-operator-0"
HOST = f"{SVC}.{NS}.svc"
STATUS = "/apis/operator.podtap.dev/v1/operators/operator"


class LoopbackPods:
    """The node, reduced to where pods are: every pod's address is 127.0.0.1."""

    def log_path(self, namespace: str, pod: str, container: str) -> Path:
        raise LookupError(f"pod {namespace}/{pod} has no logs here")

    def running(self, namespace: str, pod: str, container: str) -> bool:
        return True

    def exec_argv(
        self, namespace: str, pod: str, container: str
    ) -> tuple[list[str], dict[str, str]]:
        raise LookupError(f"pod {namespace}/{pod} cannot exec here")

    def pod_ip(self, namespace: str, pod: str) -> str:
        return "127.0.0.1"


@dataclass(frozen=True)
class Cluster:
    api: Running
    port: int
    ca: ClusterCA
    tmp: Path

    def kubectl(self, *args: str, stdin: str = "") -> str:
        return run(tools() / "kubectl", self.api, *args, stdin=stdin).stdout

    def apply(self, *objects: dict[str, Any]) -> None:
        for obj in objects:
            self.kubectl("apply", "-f", "-", stdin=json.dumps(obj))

    def point_endpoints_at(self, pod: str) -> None:
        self.apply(endpoints(self.port, pod))

    def token_kubeconfig(self, user: str) -> Path:
        """A kubeconfig that authenticates `user` with a bearer token only."""
        token = self.api.token_for(Identity(user))
        return self._kubeconfig(user, {"token": token})

    def kubeconfig_with(self, user: str, how: str) -> Path:
        """A kubeconfig whose token for `user` comes from a `tokenFile` or an `exec` plugin."""
        token = self.api.token_for(Identity(user))
        if how == "tokenFile":
            (self.tmp / f"{user}.token").write_text(token + "\n")
            return self._kubeconfig(user, {"tokenFile": str(self.tmp / f"{user}.token")})
        credential = {
            "apiVersion": "client.authentication.k8s.io/v1",
            "kind": "ExecCredential",
            "status": {"token": token},
        }
        plugin = {
            "apiVersion": "client.authentication.k8s.io/v1",
            "command": sys.executable,
            "args": ["-c", f"print({json.dumps(json.dumps(credential))})"],
            "interactiveMode": "Never",
        }
        return self._kubeconfig(user, {"exec": plugin})

    def _kubeconfig(self, name: str, user: dict[str, Any]) -> Path:
        ca = base64.b64encode(self.api.ca.cert_pem).decode()
        config = {
            "apiVersion": "v1",
            "kind": "Config",
            "clusters": [
                {"name": "c", "cluster": {"server": self.api.url, "certificate-authority-data": ca}}
            ],
            "users": [{"name": name, "user": user}],
            "contexts": [{"name": name, "context": {"cluster": "c", "user": name}}],
            "current-context": name,
        }
        path = self.tmp / f"kubeconfig-{name}"
        path.write_text(yaml.safe_dump(config))
        return path

    def podtap(self, kubeconfig: Path, *args: str) -> subprocess.CompletedProcess[str]:
        env = {**os.environ, "KUBECONFIG": "", "HOME": str(self.tmp)}
        env.pop("PODTAP_OPERATOR", None)
        return subprocess.run(
            podtap_argv(*args, "--kubeconfig", str(kubeconfig)),
            capture_output=True,
            text=True,
            timeout=60,
            env=env,
            check=False,
        )


def _helm_template(*show: str) -> str:
    argv = [str(tools() / "helm"), "template", "podtap", str(CHART), "-n", NS]
    argv += ["--set", f"fullnameOverride={SVC}"]
    for template in show:
        argv += ["-s", f"templates/{template}"]
    return subprocess.run(argv, check=True, capture_output=True, text=True).stdout


def _objects(port: int, ca_pem: bytes) -> list[dict[str, Any]]:
    labels = dict(kv.split("=") for kv in SELECTOR.split(","))
    meta = {"name": SVC, "namespace": NS}
    return [
        {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": NS}},
        {
            "apiVersion": "v1",
            "kind": "Pod",
            "metadata": {"name": POD, "namespace": NS},
            "spec": {"containers": [{"name": "operator", "image": "podtap"}]},
        },
        {
            "apiVersion": "v1",
            "kind": "Service",
            "metadata": {**meta, "labels": labels},
            "spec": {"ports": [{"name": "https", "port": 443, "targetPort": port}]},
        },
        endpoints(port, POD),
        {
            "apiVersion": "v1",
            "kind": "ConfigMap",
            "metadata": {"name": f"{SVC}-ca", "namespace": NS},
            "data": {"ca.crt": ca_pem.decode()},
        },
        {
            "apiVersion": "v1",
            "kind": "ConfigMap",
            "metadata": {"name": "extension-apiserver-authentication", "namespace": "kube-system"},
            "data": {
                "requestheader-client-ca-file": ClusterCA.create(cluster="fp").cert_pem.decode(),
                "requestheader-allowed-names": json.dumps(["front-proxy-client"]),
                "requestheader-username-headers": '["X-Remote-User"]',
                "requestheader-group-headers": '["X-Remote-Group"]',
                "requestheader-extra-headers-prefix": '["X-Remote-Extra-"]',
            },
        },
    ]


def endpoints(port: int, pod: str) -> dict[str, Any]:
    """The Service's Endpoints, ready on `pod` (as the endpoints controller writes them)."""
    ref = {"kind": "Pod", "name": pod, "namespace": NS}
    return {
        "apiVersion": "v1",
        "kind": "Endpoints",
        "metadata": {"name": SVC, "namespace": NS},
        "subsets": [
            {
                "addresses": [{"ip": "127.0.0.1", "targetRef": ref}],
                "ports": [{"name": "https", "port": port}],
            }
        ],
    }


def _serving(port: int, ca: ClusterCA, admin: str) -> bool:
    """Whether the operator answers its status to an admin (it leads)."""
    context = ssl.create_default_context(cadata=ca.cert_pem.decode())
    context.check_hostname = False  # its certificate names the Service, not 127.0.0.1
    request = urllib.request.Request(
        f"https://127.0.0.1:{port}{STATUS}", headers={"Authorization": f"Bearer {admin}"}
    )
    try:
        with urllib.request.urlopen(request, context=context, timeout=5) as r:
            return bool(r.status == 200)
    except OSError:
        return False


@contextlib.contextmanager
def forwarded(tmp: Path) -> Iterator[Cluster]:
    """The API server with the operator's Service, pod and CA, and the operator serving."""
    build = kubeapi_app.build_app

    def with_pods(ctx: ApiContext) -> web.Application:
        app = build(ctx)
        app[POD_ACCESS] = LoopbackPods()
        return app

    ca = ClusterCA.create(cluster="operator")
    ca.serving(hosts=[HOST]).write(cert=tmp / "tls.crt", key=tmp / "tls.key")
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(kubeapi_app, "build_app", with_pods)
        with in_thread() as api:
            port = _free_port()
            c = Cluster(api, port, ca, tmp)
            c.apply(*_objects(port, ca.cert_pem))
            c.kubectl("apply", "-f", "-", stdin=_helm_template("crd-podtapsessions.yaml"))
            c.kubectl("apply", "-f", "-", stdin=_helm_template("rbac-users.yaml"))
            env = {
                **os.environ,
                "PODTAP_NAMESPACE": NS,
                "PODTAP_POD_NAME": POD,
                "PODTAP_LISTEN": f"127.0.0.1:{port}",
                "PODTAP_TLS_DIR": str(tmp),
            }
            argv = podtap_argv("operator", "serve", "--kube", "--kubeconfig", str(api.kubeconfig))
            log = (tmp / "operator.log").open("w")
            operator = subprocess.Popen(argv, env=env, stdout=log, stderr=subprocess.STDOUT)
            try:
                admin = api.token_for(Identity("carol", ("system:masters",)))
                wait_until(
                    lambda: operator.poll() is not None or _serving(port, ca, admin),
                    timeout=30,
                    what="the operator serving",
                )
                assert operator.poll() is None, (tmp / "operator.log").read_text()
                yield c
            finally:
                operator.terminate()
                operator.wait(timeout=20)
                log.close()


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


def bind(c: Cluster, user: str, *, cluster_role: bool, role: bool) -> None:
    """Give `user` the chart's -user ClusterRole and/or its Role in the operator's namespace."""
    if cluster_role:
        c.kubectl(
            "create",
            "clusterrolebinding",
            f"{user}-podtap",
            f"--clusterrole={SVC}-user",
            f"--user={user}",
        )
    if role:
        c.kubectl(
            "-n",
            NS,
            "create",
            "rolebinding",
            f"{user}-podtap",
            f"--role={SVC}-user",
            f"--user={user}",
        )
