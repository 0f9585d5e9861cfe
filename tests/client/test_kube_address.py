"""Clients reach the operator through the kube-apiserver of their kubeconfig (issue 13, item 3).

Against the in-process API server, whose aggregation layer relays ``operator.podtap.dev/v1``
to the real operator API (`tests.client.aggregated`): every way a kubeconfig authenticates
(client certificate data and files, token and tokenFile, an exec plugin giving a token that
expires or is refused, or a client certificate), the cluster's CA as data or file,
insecure-skip-tls-verify and tls-server-name; what RBAC refuses, with the line a user reads;
and which address a command chooses.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import datetime
import json
import sys
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml

from podtap.backends.local.kubeapi.auth import Identity
from podtap.backends.local.kubeapi.kubeconfig import ADMIN_USER
from podtap.client.host.kube_address import KubeAddress, KubeconfigError, kube_address
from podtap.client.host.operator_api import OperatorApi, OperatorUnavailable
from podtap.core import operator_paths as paths
from podtap.net.tasks import TaskSet
from tests.client.aggregated import Aggregated, aggregated, operator_running
from tests.kubeapi.server import tools

STATUS = paths.operator_path().removeprefix(paths.API)


@pytest.fixture(scope="module")
def agg(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Aggregated]:
    with aggregated(tools() / "kubectl", tmp_path_factory.mktemp("aggregated")) as running:
        yield running


def config_of(agg: Aggregated) -> dict[str, Any]:
    loaded: dict[str, Any] = yaml.safe_load(agg.api.kubeconfig.read_text())
    return loaded


def write_config(
    tmp: Path,
    agg: Aggregated,
    *,
    user: dict[str, Any] | None = None,
    cluster: dict[str, Any] | None = None,
    name: str = "kubeconfig",
) -> Path:
    """The admin kubeconfig with its user's credentials (and cluster fields) replaced."""
    config = config_of(agg)
    if user is not None:
        config["users"][0]["user"] = user
    if cluster is not None:
        config["clusters"][0]["cluster"].update(cluster)
    path = tmp / name
    path.write_text(yaml.safe_dump(config))
    return path


def through(
    agg: Aggregated, tmp: Path, config: Path, test: Callable[[KubeAddress], Awaitable[None]]
) -> None:
    """Run `test` with the operator up and the address of `config`."""

    async def go() -> None:
        async with operator_running(agg, tmp / "state"):
            await test(await kube_address(files=str(config), context=None))

    asyncio.run(go())


def status_as(agg: Aggregated, tmp: Path, config: Path) -> dict[str, Any]:
    """`podtap operator status`'s data, through `config`, and the request the operator got."""
    got: dict[str, Any] = {}

    async def test(address: KubeAddress) -> None:
        got["status"] = await OperatorApi(address).call("GET", STATUS)

    agg.seen.clear()
    through(agg, tmp, config, test)
    got["seen"] = next(s for s in agg.seen if s["path"] == paths.operator_path())
    return got


def test_the_admins_client_certificate_reaches_the_operator_as_that_user(
    agg: Aggregated, tmp_path: Path
) -> None:
    got = status_as(agg, tmp_path, agg.api.kubeconfig)
    assert got["status"]["sessions"] == [] and "version" in got["status"]
    seen = got["seen"]
    assert seen["user"] == ADMIN_USER and "system:masters" in seen["groups"]
    assert seen["cn"] == "front-proxy-client" and seen["authorization"] is None


def test_client_certificate_and_ca_as_files(agg: Aggregated, tmp_path: Path) -> None:
    config = config_of(agg)
    user, cluster = config["users"][0]["user"], config["clusters"][0]["cluster"]
    for key, name in (("client-certificate", "c.crt"), ("client-key", "c.key")):
        (tmp_path / name).write_bytes(base64.b64decode(user.pop(f"{key}-data")))
        user[key] = name  # relative to the kubeconfig's folder, as kubectl reads it
    (tmp_path / "ca.crt").write_bytes(base64.b64decode(cluster.pop("certificate-authority-data")))
    cluster["certificate-authority"] = str(tmp_path / "ca.crt")
    path = tmp_path / "kubeconfig"
    path.write_text(yaml.safe_dump(config))
    assert status_as(agg, tmp_path, path)["seen"]["user"] == ADMIN_USER


def test_certificates_that_cannot_be_used_are_one_line(agg: Aggregated, tmp_path: Path) -> None:
    not_pem = base64.b64encode(b"not a certificate").decode()
    config = write_config(tmp_path, agg, cluster={"certificate-authority-data": not_pem})
    with pytest.raises(KubeconfigError) as caught:
        asyncio.run(kube_address(files=str(config), context=None))
    assert str(caught.value).startswith(
        f"kubeconfig {config} (the current context): its certificates cannot be used: "
    )


def test_a_token_and_a_token_file(agg: Aggregated, tmp_path: Path) -> None:
    token = agg.api.token_for(Identity("tina", ("system:masters",)))
    inline = write_config(tmp_path, agg, user={"token": token}, name="inline")
    assert status_as(agg, tmp_path, inline)["seen"]["user"] == "tina"
    (tmp_path / "token").write_text(token + "\n")
    from_file = write_config(tmp_path, agg, user={"tokenFile": str(tmp_path / "token")})
    assert status_as(agg, tmp_path, from_file)["seen"]["user"] == "tina"


def _plugin(tmp: Path, outputs: list[dict[str, Any] | None]) -> dict[str, Any]:
    """An exec credential plugin answering `outputs[n]` at its n-th run (the last after;
    None: it fails); each run appends a line to tmp/runs."""
    (tmp / "outputs.json").write_text(json.dumps(outputs))
    script = tmp / "plugin.py"
    script.write_text(
        "import json, pathlib, sys\n"
        f"d = pathlib.Path({str(tmp)!r})\n"
        "runs = d / 'runs'\n"
        "n = len(runs.read_text().splitlines()) if runs.exists() else 0\n"
        "runs.write_text('run\\n' * (n + 1))\n"
        "outs = json.loads((d / 'outputs.json').read_text())\n"
        "status = outs[min(n, len(outs) - 1)]\n"
        "if status is None: sys.exit('plugin: the identity provider is down')\n"
        "json.dump({'apiVersion': 'client.authentication.k8s.io/v1', "
        "'kind': 'ExecCredential', 'status': status}, sys.stdout)\n"
    )
    return {
        "exec": {
            "apiVersion": "client.authentication.k8s.io/v1",
            "command": sys.executable,
            "args": [str(script)],
            "interactiveMode": "Never",
        }
    }


def _runs(tmp: Path) -> int:
    return len((tmp / "runs").read_text().splitlines())


def test_an_exec_plugins_token_is_asked_again_once_it_expires(
    agg: Aggregated, tmp_path: Path
) -> None:
    soon = datetime.datetime.now(datetime.UTC) + datetime.timedelta(seconds=5)
    token = agg.api.token_for(Identity("erin", ("system:masters",)))
    stamp = soon.strftime("%Y-%m-%dT%H:%M:%SZ")
    user = _plugin(tmp_path, [{"token": token, "expirationTimestamp": stamp}])
    config = write_config(tmp_path, agg, user=user)

    async def test(address: KubeAddress) -> None:
        for _ in range(2):
            await OperatorApi(address).call("GET", STATUS)

    agg.seen.clear()
    through(agg, tmp_path, config, test)
    assert _runs(tmp_path) == 3  # loading, then before each request: it expires within 10 s
    assert {s["user"] for s in agg.seen} == {"erin"}


def test_an_exec_plugin_failing_to_renew_is_one_line(agg: Aggregated, tmp_path: Path) -> None:
    soon = datetime.datetime.now(datetime.UTC) + datetime.timedelta(seconds=5)
    token = agg.api.token_for(Identity("erin", ("system:masters",)))
    stamp = soon.strftime("%Y-%m-%dT%H:%M:%SZ")
    user = _plugin(tmp_path, [{"token": token, "expirationTimestamp": stamp}, None])
    config = write_config(tmp_path, agg, user=user)

    async def test(address: KubeAddress) -> None:
        with pytest.raises(OperatorUnavailable) as caught:
            await OperatorApi(address).call("GET", STATUS)
        assert str(caught.value).startswith(
            f"kubeconfig {config} (the current context): the exec credential plugin failed: "
        )
        assert str(caught.value).endswith("plugin: the identity provider is down")

    through(agg, tmp_path, config, test)


def test_an_exec_plugins_refused_token_is_replaced_once(agg: Aggregated, tmp_path: Path) -> None:
    token = agg.api.token_for(Identity("erin", ("system:masters",)))
    user = _plugin(tmp_path, [{"token": "not-a-token"}, {"token": token}])
    config = write_config(tmp_path, agg, user=user)
    status = status_as(agg, tmp_path, config)
    assert status["seen"]["user"] == "erin" and _runs(tmp_path) == 2


def test_an_exec_plugin_giving_a_client_certificate(agg: Aggregated, tmp_path: Path) -> None:
    pair = agg.api.ca.client(user="cora", groups=("system:masters",))
    status = {
        "clientCertificateData": pair.cert_pem.decode(),
        "clientKeyData": pair.key_pem.decode(),
    }
    config = write_config(tmp_path, agg, user=_plugin(tmp_path, [status]))
    assert status_as(agg, tmp_path, config)["seen"]["user"] == "cora"


def test_tls_server_name_and_insecure_skip_tls_verify(agg: Aggregated, tmp_path: Path) -> None:
    # The serving certificate names 127.0.0.1 and localhost, not this name.
    wrong = write_config(tmp_path, agg, cluster={"tls-server-name": "api.example"}, name="wrong")

    async def refused(address: KubeAddress) -> None:
        with pytest.raises(OperatorUnavailable) as caught:
            await OperatorApi(address).call("GET", STATUS)
        assert str(caught.value).startswith(
            f"cannot reach the Kubernetes API server {agg.api.url} of kubeconfig {wrong}"
        )
        assert "certificate" in str(caught.value)

    through(agg, tmp_path, wrong, refused)
    right = write_config(tmp_path, agg, cluster={"tls-server-name": "localhost"}, name="right")
    assert status_as(agg, tmp_path, right)["seen"]["user"] == ADMIN_USER
    config = config_of(agg)
    del config["clusters"][0]["cluster"]["certificate-authority-data"]
    config["clusters"][0]["cluster"]["insecure-skip-tls-verify"] = True
    insecure = tmp_path / "insecure"
    insecure.write_text(yaml.safe_dump(config))
    assert status_as(agg, tmp_path, insecure)["seen"]["user"] == ADMIN_USER


async def _pipe(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    try:
        while data := await reader.read(65536):
            writer.write(data)
            await writer.drain()
    finally:
        writer.close()


@contextlib.asynccontextmanager
async def connect_proxy() -> AsyncIterator[tuple[str, list[str]]]:
    """An HTTP CONNECT proxy on 127.0.0.1 (its URL, and the targets it was asked for)."""
    asked: list[str] = []
    tasks = TaskSet()

    async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        head = (await reader.readuntil(b"\r\n\r\n")).decode()
        target = head.split()[1]
        asked.append(target)
        host, _, port = target.rpartition(":")
        up_reader, up_writer = await asyncio.open_connection(host, int(port))
        writer.write(b"HTTP/1.1 200 Connection established\r\n\r\n")
        await writer.drain()
        await asyncio.gather(
            tasks.spawn(_pipe(reader, up_writer), name="proxy: out"),
            tasks.spawn(_pipe(up_reader, writer), name="proxy: back"),
        )

    server = await asyncio.start_server(handle, "127.0.0.1", 0)
    try:
        yield f"http://127.0.0.1:{server.sockets[0].getsockname()[1]}", asked
    finally:
        server.close()
        await tasks.close()
        await server.wait_closed()


def test_proxy_url_tunnels_to_the_server(agg: Aggregated, tmp_path: Path) -> None:
    async def go() -> list[str]:
        async with connect_proxy() as (url, asked), operator_running(agg, tmp_path / "state"):
            config = write_config(tmp_path, agg, cluster={"proxy-url": url})
            address = await kube_address(files=str(config), context=None)
            assert (await OperatorApi(address).call("GET", STATUS))["sessions"] == []
            return asked

    assert asyncio.run(go()) == [agg.api.url.removeprefix("https://")]
