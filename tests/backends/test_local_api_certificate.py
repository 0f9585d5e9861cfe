"""The embedded cluster's API serving certificate names what in-cluster clients dial, as
kube-apiserver's does: the `kubernetes` Service's cluster IP (KUBERNETES_SERVICE_HOST, what
client-go's and kubernetes_asyncio's in-cluster config connect to) besides its names."""

from __future__ import annotations

import asyncio
import ssl
from pathlib import Path

import pytest

from podtap.backends.local import apiaccess
from podtap.backends.local.paths import ClusterPaths


async def _handshake(paths: ClusterPaths, server_name: str) -> None:
    served = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    served.load_cert_chain(paths.pki_dir / "serving.crt", paths.pki_dir / "serving.key")
    server = await asyncio.start_server(lambda r, w: w.close(), "127.0.0.1", 0, ssl=served)
    port = server.sockets[0].getsockname()[1]
    client = ssl.create_default_context(cafile=str(paths.pki_dir / "ca.crt"))
    try:
        _, writer = await asyncio.open_connection(
            "127.0.0.1", port, ssl=client, server_hostname=server_name
        )
        writer.close()
    finally:
        server.close()
        await server.wait_closed()


@pytest.mark.parametrize(
    "name", ["10.96.0.1", "kubernetes.default.svc", "kubernetes.default.svc.cluster.local"]
)
def test_in_cluster_addresses_verify_against_the_cluster_ca(tmp_path: Path, name: str) -> None:
    paths = ClusterPaths(tmp_path / "c")
    paths.make()
    apiaccess.ensure_ca(paths)
    asyncio.run(_handshake(paths, name))


def test_another_address_is_refused(tmp_path: Path) -> None:
    paths = ClusterPaths(tmp_path / "c")
    paths.make()
    apiaccess.ensure_ca(paths)
    with pytest.raises(ssl.SSLCertVerificationError, match="IP address mismatch"):
        asyncio.run(_handshake(paths, "10.96.0.2"))
