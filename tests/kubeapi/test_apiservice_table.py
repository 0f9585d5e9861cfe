"""`kubectl get apiservices` prints kube-aggregator's columns: NAME, SERVICE (`Local` or
`NAMESPACE/NAME`), AVAILABLE (`True`, or the status with its reason), AGE."""

from __future__ import annotations

import json
from pathlib import Path

from podtap.backends.local.kubeapi.app import Running
from tests.kubeapi.cli import run


def _apiservice(group: str, service: dict[str, str] | None) -> str:
    spec: dict[str, object] = {"group": group, "version": "v1", "groupPriorityMinimum": 1000,
                               "versionPriority": 15}  # fmt: skip
    if service is not None:
        spec |= {"service": service, "insecureSkipTLSVerify": True}
    obj = {"apiVersion": "apiregistration.k8s.io/v1", "kind": "APIService",
           "metadata": {"name": f"v1.{group}"}, "spec": spec}  # fmt: skip
    return json.dumps(obj)


def test_apiservices_show_their_service_and_availability(api: Running, kubectl_bin: Path) -> None:
    run(kubectl_bin, api, "apply", "-f", "-", stdin=_apiservice("local.example.com", None))
    remote = _apiservice("remote.example.com", {"namespace": "ext", "name": "server"})
    run(kubectl_bin, api, "apply", "-f", "-", stdin=remote)
    try:
        condition = {"type": "Available", "status": "False", "reason": "MissingEndpoints",
                     "message": "endpoints for service/ext/server have no addresses",
                     "lastTransitionTime": "2026-01-01T00:00:00Z"}  # fmt: skip
        run(kubectl_bin, api, "patch", "apiservice", "v1.remote.example.com",
            "--subresource=status", "--type=merge",
            "-p", json.dumps({"status": {"conditions": [condition]}}))  # fmt: skip
        out = run(kubectl_bin, api, "get", "apiservices", "v1.local.example.com",
                  "v1.remote.example.com").stdout.splitlines()  # fmt: skip
        assert [line.split()[:-1] for line in out] == [  # AGE left out
            ["NAME", "SERVICE", "AVAILABLE"],
            ["v1.local.example.com", "Local", "Unknown"],
            ["v1.remote.example.com", "ext/server", "False", "(MissingEndpoints)"],
        ]
    finally:
        run(kubectl_bin, api, "delete", "apiservice", "v1.local.example.com",
            "v1.remote.example.com")  # fmt: skip
