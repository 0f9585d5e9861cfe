"""The front-proxy CA and client certificate the API presents to aggregated API servers.

A CA apart from the cluster's (as kubeadm makes `front-proxy-ca`), so that a client
certificate of the cluster CA cannot pass for the proxy: aggregated servers trust only
`requestheader-client-ca-file` for the `X-Remote-*` headers. Made once in the cluster's
private pki directory by the node and kept there.
"""

from __future__ import annotations

from pathlib import Path

from podtap.backends.local.kubeapi.aggregation import FrontProxy
from podtap.backends.local.kubeapi.pki import ClusterCA, KeyPair

CLIENT_NAME = "front-proxy-client"


def ensure_front_proxy(pki: Path) -> tuple[FrontProxy, bytes]:
    """The client certificate's files and the CA's PEM, made on first use."""
    cert, key = pki / "front-proxy-ca.crt", pki / "front-proxy-ca.key"
    if cert.exists() and key.exists():
        ca = ClusterCA.load(KeyPair(cert.read_bytes(), key.read_bytes()))
    else:
        ca = ClusterCA.create(cluster="front-proxy")
        ca.pair.write(cert=cert, key=key)
    client = FrontProxy(pki / "front-proxy-client.crt", pki / "front-proxy-client.key")
    if not client.key.exists():
        ca.client(user=CLIENT_NAME).write(cert=client.cert, key=client.key)
    return client, ca.cert_pem
