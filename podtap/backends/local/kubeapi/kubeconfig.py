"""Kubeconfig files for an embedded cluster: the admin one and one per limited user.

kubectl, helm and kubernetes_asyncio all read the same file: the cluster's server URL and CA,
and a user with a client certificate (embedded as data, so the file is self-contained and can
be handed to another local account) or a bearer token. The admin is `podtap-admin` in
`system:masters`, as kubeadm's admin.conf is `kubernetes-admin` in that group.
"""

from __future__ import annotations

import base64
import os
from pathlib import Path
from typing import Any

import yaml

from podtap.backends.local.kubeapi.pki import ClusterCA

ADMIN_USER = "podtap-admin"
ADMIN_GROUPS = ("system:masters",)


def _b64(data: bytes) -> str:
    return base64.b64encode(data).decode()


def kubeconfig(
    *,
    cluster: str,
    server: str,
    ca_pem: bytes,
    user: str,
    client_cert: bytes | None = None,
    client_key: bytes | None = None,
    token: str | None = None,
    namespace: str = "default",
) -> dict[str, Any]:
    """A kubeconfig document with one cluster, one user and one current context."""
    creds: dict[str, str] = {}
    if client_cert is not None and client_key is not None:
        creds["client-certificate-data"] = _b64(client_cert)
        creds["client-key-data"] = _b64(client_key)
    if token is not None:
        creds["token"] = token
    context = f"{user}@{cluster}"
    return {
        "apiVersion": "v1",
        "kind": "Config",
        "preferences": {},
        "clusters": [
            {
                "name": cluster,
                "cluster": {"server": server, "certificate-authority-data": _b64(ca_pem)},
            }
        ],
        "users": [{"name": context, "user": creds}],
        "contexts": [
            {
                "name": context,
                "context": {"cluster": cluster, "user": context, "namespace": namespace},
            }
        ],
        "current-context": context,
    }


def for_user(
    *,
    ca: ClusterCA,
    cluster: str,
    server: str,
    user: str = ADMIN_USER,
    groups: tuple[str, ...] = ADMIN_GROUPS,
) -> dict[str, Any]:
    """A kubeconfig for `user` in `groups` with a fresh client certificate from the CA."""
    pair = ca.client(user=user, groups=groups)
    return kubeconfig(
        cluster=cluster,
        server=server,
        ca_pem=ca.cert_pem,
        user=user,
        client_cert=pair.cert_pem,
        client_key=pair.key_pem,
    )


def write(path: Path, config: dict[str, Any], *, mode: int = 0o600) -> Path:
    """Write atomically with `mode` (0600 for the admin; 0644 for a file meant to be shared)."""
    part = path.with_name(f".{path.name}.part")
    part.unlink(missing_ok=True)
    fd = os.open(part, os.O_WRONLY | os.O_CREAT | os.O_EXCL, mode)
    with os.fdopen(fd, "w") as f:
        yaml.safe_dump(config, f, sort_keys=False)
    os.chmod(part, mode)  # the umask may have narrowed it
    os.replace(part, path)
    return path
