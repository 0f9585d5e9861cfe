"""How the host reaches a local cluster's Kubernetes API: its CA, its port, its kubeconfigs.

The API server runs in the node, which lives in its own network namespace, so nothing it
binds there is reachable from the host. Instead `podtap local up` binds 127.0.0.1:PORT here,
in the host's namespace, and hands the listening socket to the node (a socket stays in the
namespace it was made in): kubectl connects to the host's loopback and the node accepts,
with no relay process between them and nothing left listening once the node is gone. The
port is kept across node restarts when it is still free.

Each cluster gets its own CA (made once, kept in the private state directory with its key),
a serving certificate for 127.0.0.1 and the node's gateway, and an admin kubeconfig there.
Kubeconfigs for limited users are signed by the same CA on the host and written where the
user says (or printed), never into the private state directory.
"""

from __future__ import annotations

import contextlib
import socket
from pathlib import Path
from typing import Any

import yaml

from podtap.backends.local.kubeapi import kubeconfig
from podtap.backends.local.kubeapi.pki import ClusterCA, KeyPair
from podtap.backends.local.network import GATEWAY
from podtap.backends.local.paths import ClusterPaths
from podtap.backends.local.services import KUBERNETES_VIP

#: Where pods reach the API inside the node (its gateway address on the pod bridge).
IN_CLUSTER_PORT = 6443
#: As kube-apiserver's own certificate: the first Service IP too, which in-cluster clients dial
#: (KUBERNETES_SERVICE_HOST), besides the Service's names.
SERVING_HOSTS = [
    "127.0.0.1",
    "localhost",
    str(GATEWAY),
    KUBERNETES_VIP,
    "kubernetes",
    "kubernetes.default",
    "kubernetes.default.svc",
    "kubernetes.default.svc.cluster.local",
]


class NoKubeconfig(RuntimeError):
    def __init__(self, paths: ClusterPaths) -> None:
        super().__init__(
            f"local cluster {paths.name!r} has no kubeconfig: start it with "
            f"`podtap local up --name {paths.name}`"
        )


def cluster_label(paths: ClusterPaths) -> str:
    """The cluster's name in kubeconfigs: `podtap-NAME`, so several merge without clashes."""
    return f"podtap-{paths.name}"


def ensure_ca(paths: ClusterPaths) -> ClusterCA:
    """The cluster's CA, made on first use; its serving certificate is (re)signed with it."""
    pki = paths.pki_dir
    pki.mkdir(mode=0o700, exist_ok=True)
    cert, key = pki / "ca.crt", pki / "ca.key"
    if cert.exists() and key.exists():
        ca = ClusterCA.load(KeyPair(cert.read_bytes(), key.read_bytes()))
    else:
        ca = ClusterCA.create(cluster=paths.name)
        ca.pair.write(cert=cert, key=key)
    if not (pki / "serving.key").exists():
        ca.serving(hosts=SERVING_HOSTS).write(cert=pki / "serving.crt", key=pki / "serving.key")
    return ca


def load_ca(paths: ClusterPaths) -> ClusterCA:
    pki = paths.pki_dir
    try:
        return ClusterCA.load(KeyPair((pki / "ca.crt").read_bytes(), (pki / "ca.key").read_bytes()))
    except FileNotFoundError:
        raise NoKubeconfig(paths) from None


def serving_pair(paths: ClusterPaths) -> KeyPair:
    pki = paths.pki_dir
    return KeyPair((pki / "serving.crt").read_bytes(), (pki / "serving.key").read_bytes())


def recorded_port(paths: ClusterPaths) -> int:
    with contextlib.suppress(OSError, ValueError):
        return int(paths.api_port_file.read_text())
    return 0


def listen(paths: ClusterPaths, *, port: int = 0) -> socket.socket:
    """A listening socket on 127.0.0.1 in the host's namespace: `port`, else the port this
    cluster had before if it is free, else any free port."""
    candidates = [port] if port else list(dict.fromkeys([recorded_port(paths), 0]))
    for wanted in candidates:
        sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind(("127.0.0.1", wanted))
        except OSError:
            sock.close()
            continue
        sock.listen(128)
        paths.api_port_file.write_text(str(sock.getsockname()[1]))
        return sock
    raise OSError(f"cannot listen on 127.0.0.1:{port}: the port is in use")


def server_url(port: int) -> str:
    return f"https://127.0.0.1:{port}"


def write_admin_kubeconfig(paths: ClusterPaths, *, port: int) -> Path:
    """The admin kubeconfig (podtap-admin in system:masters), private to the user."""
    config = kubeconfig.for_user(
        ca=ensure_ca(paths), cluster=cluster_label(paths), server=server_url(port)
    )
    return kubeconfig.write(paths.kubeconfig, config)


def admin_kubeconfig(paths: ClusterPaths) -> Path:
    if not paths.kubeconfig.exists():
        raise NoKubeconfig(paths)
    return paths.kubeconfig


def user_kubeconfig(paths: ClusterPaths, *, user: str, groups: tuple[str, ...]) -> dict[str, Any]:
    """A kubeconfig for `user` in `groups`, with a client certificate and key embedded, for
    any local account: it names only 127.0.0.1:PORT and the CA, nothing in the state dir."""
    admin = yaml.safe_load(admin_kubeconfig(paths).read_text())
    server = admin["clusters"][0]["cluster"]["server"]
    return kubeconfig.for_user(
        ca=load_ca(paths), cluster=cluster_label(paths), server=server, user=user, groups=groups
    )


def write_shared(path: Path, config: dict[str, Any]) -> Path:
    """Write a limited user's kubeconfig readable by everyone (0644): it is meant to be
    handed to another account, and holds only that user's key."""
    return kubeconfig.write(path, config, mode=0o644)


def dump(config: dict[str, Any]) -> str:
    return yaml.safe_dump(config, sort_keys=False)
