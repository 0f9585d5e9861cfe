"""Users of the embedded cluster that are not its admin: a kubeconfig each, and the chart's
user ClusterRole bound to them, as an admin of a real cluster grants developers podtap."""

from __future__ import annotations

import json
from pathlib import Path

from podtap.testing.localcluster import LocalCluster
from tests.cluster.test_kubectl_local import Kubectl

USER_ROLE = "podtap-operator-user"  # the chart's ClusterRole for developers


def limited_user(cluster: LocalCluster, name: str, *, out: Path | None = None) -> Path:
    """A kubeconfig for `name` (readable by every account: --out), who may use podtap."""
    out = out or cluster.state_home / f"{name}.kubeconfig"
    cluster.podtap("local", "kubeconfig", "--user", name, "--out", str(out))
    binding = {
        "apiVersion": "rbac.authorization.k8s.io/v1",
        "kind": "ClusterRoleBinding",
        "metadata": {"name": f"{name}-podtap-user"},
        "roleRef": {
            "apiGroup": "rbac.authorization.k8s.io",
            "kind": "ClusterRole",
            "name": USER_ROLE,
        },
        "subjects": [{"apiGroup": "rbac.authorization.k8s.io", "kind": "User", "name": name}],
    }
    kubectl = Kubectl(cluster.kubeconfig, cluster.state_home)
    kubectl("apply", "-f", "-", stdin=json.dumps(binding))
    return out
