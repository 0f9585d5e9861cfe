"""Service accounts as kube-apiserver's admission and token authenticator see them (pure).

Every pod runs as a ServiceAccount (`default` unless `serviceAccountName` says otherwise).
The ServiceAccount admission plugin adds a projected volume `kube-api-access-XXXXX` holding
the account's token, the cluster CA (`kube-root-ca.crt`) and the namespace, mounted read-only
at `/var/run/secrets/kubernetes.io/serviceaccount` in every container, unless the pod or a
container opts out. The suffix is derived from the pod's name rather than random, so that
re-admitting the same pod (an update) adds nothing new.

A pod's mounted token is a JWT bound to the pod (`tokens.py`), which the node writes over
the volume's file and refreshes (`backends/local/token_keeper.py`). Each account also keeps
an opaque legacy token, registered with the server's token book by the node's controller
(`backends/local/accounts.py`) and kept in a `kubernetes.io/service-account-token` Secret
as Kubernetes before 1.24 did; it is what the kubelet part writes first. Both authenticate
as `system:serviceaccount:NS:NAME` in the groups a real server gives.
"""

from __future__ import annotations

import hashlib
from typing import Any

from podtap.backends.local.kubeapi.auth import Identity

SA_DIR = "/var/run/secrets/kubernetes.io/serviceaccount"
ROOT_CA = "kube-root-ca.crt"
TOKEN_TYPE = "kubernetes.io/service-account-token"
SA_ANNOTATION = "kubernetes.io/service-account.name"
_ALPHABET = "bcdfghjklmnpqrstvwxz2456789"  # kube's rand.String alphabet


def token_secret(account: str) -> str:
    return f"{account}-token"


def account_identity(namespace: str, account: str) -> Identity:
    return Identity(
        f"system:serviceaccount:{namespace}:{account}",
        ("system:serviceaccounts", f"system:serviceaccounts:{namespace}", "system:authenticated"),
    )


def projection() -> dict[str, Any]:
    """The projected volume source of the service-account token volume, as admission adds it."""
    return {
        "defaultMode": 0o644,
        "sources": [
            {"serviceAccountToken": {"expirationSeconds": 3607, "path": "token"}},
            {"configMap": {"name": ROOT_CA, "items": [{"key": "ca.crt", "path": "ca.crt"}]}},
            {
                "downwardAPI": {
                    "items": [
                        {
                            "path": "namespace",
                            "fieldRef": {"apiVersion": "v1", "fieldPath": "metadata.namespace"},
                        }
                    ]
                }
            },
        ],
    }


def _suffix(name: str) -> str:
    digest = hashlib.sha256(name.encode()).digest()
    return "".join(_ALPHABET[b % len(_ALPHABET)] for b in digest[:5])


def admit_pod(kind: str, obj: dict[str, Any]) -> None:
    """ServiceAccount admission on a Pod: the account named, its token volume mounted."""
    if kind != "Pod":
        return
    spec = obj.setdefault("spec", {})
    account = spec.get("serviceAccountName") or spec.get("serviceAccount") or "default"
    spec["serviceAccountName"] = spec["serviceAccount"] = account
    if spec.get("automountServiceAccountToken") is False:
        return
    containers = [*(spec.get("containers") or []), *(spec.get("initContainers") or [])]
    wanting = [
        c
        for c in containers
        if not any(m.get("mountPath") == SA_DIR for m in c.get("volumeMounts") or [])
    ]
    if not wanting:
        return
    volumes = spec.setdefault("volumes", [])
    name = next(
        (v["name"] for v in volumes if str(v.get("name", "")).startswith("kube-api-access-")),
        None,
    )
    if name is None:
        name = f"kube-api-access-{_suffix(str((obj.get('metadata') or {}).get('name', '')))}"
        volumes.append({"name": name, "projected": projection()})
    for c in wanting:
        mounts = c.setdefault("volumeMounts", [])
        mounts.append({"name": name, "mountPath": SA_DIR, "readOnly": True})
