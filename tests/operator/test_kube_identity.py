"""Who the operator believes, over real TLS: only the API server's front-proxy certificate
may say who the user is; probes get in without one; anyone else is refused."""

from __future__ import annotations

import asyncio
import json
import ssl
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

import aiohttp
import pytest
from aiohttp import web

from podtap.backends.local.kubeapi.pki import ClusterCA, KeyPair
from podtap.core.kube.requestheader import RequestHeaderConfig
from podtap.core.kube.users import UserInfo
from podtap.operator.identity import Caller
from podtap.operator.kube_identity import FrontProxyIdentity, server_ssl
from podtap.operator.settings import OperatorError


class Reviewer:
    """RBAC as a table: who has the kill verb on sessions."""

    def __init__(self, admins: set[str]) -> None:
        self.admins = admins
        self.asked: list[str] = []

    async def allowed(self, user: UserInfo, *, verb: str, group: str, resource: str) -> bool:
        self.asked.append(f"{user.name} {verb} {group}/{resource}")
        return user.name in self.admins

    async def allows(self, user: UserInfo, attributes: dict[str, str]) -> bool:
        raise AssertionError("a relayed request is authorized by the API server, not here")


@asynccontextmanager
async def operator_like(tmp: Path, reviewer: Reviewer) -> AsyncIterator[tuple[str, ClusterCA]]:
    """An HTTPS server with the operator's context and identity; /whoami answers the caller."""
    cluster, front = ClusterCA.create(cluster="c"), ClusterCA.create(cluster="front-proxy")
    cluster.serving(hosts=["127.0.0.1"]).write(cert=tmp / "tls.crt", key=tmp / "tls.key")
    config = RequestHeaderConfig.from_configmap(
        {
            "requestheader-client-ca-file": front.cert_pem.decode(),
            "requestheader-allowed-names": json.dumps(["front-proxy-client"]),
            "requestheader-username-headers": '["X-Remote-User"]',
            "requestheader-group-headers": '["X-Remote-Group"]',
            "requestheader-extra-headers-prefix": '["X-Remote-Extra-"]',
        }
    )
    identity = FrontProxyIdentity(config, reviewer)

    async def whoami(request: web.Request) -> web.Response:
        try:
            caller: Caller = await identity.caller(request)
        except OperatorError as exc:
            return web.json_response({"error": str(exc)}, status=exc.status)
        return web.json_response(
            {"principal": caller.principal, "groups": list(caller.groups), "admin": caller.admin}
        )

    app = web.Application()
    app.router.add_get("/whoami", whoami)
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0, ssl_context=server_ssl(tls_dir=tmp, config=config))
    await site.start()
    port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
    try:
        yield f"https://127.0.0.1:{port}", front
    finally:
        await runner.cleanup()


def client_context(tmp: Path, pair: KeyPair | None) -> ssl.SSLContext:
    ctx = ssl.create_default_context()
    ctx.check_hostname, ctx.verify_mode = False, ssl.CERT_NONE
    if pair is not None:
        pair.write(cert=tmp / "client.crt", key=tmp / "client.key")
        ctx.load_cert_chain(tmp / "client.crt", tmp / "client.key")
    return ctx


async def ask(
    url: str, ctx: ssl.SSLContext, headers: dict[str, str]
) -> tuple[int, dict[str, object]]:
    async with (
        aiohttp.ClientSession() as http,
        http.get(f"{url}/whoami", ssl=ctx, headers=headers) as r,
    ):
        return r.status, await r.json()


def test_the_front_proxy_says_who_the_user_is(tmp_path: Path) -> None:
    async def go() -> None:
        reviewer = Reviewer(admins={"root-of-team"})
        async with operator_like(tmp_path, reviewer) as (url, front):
            ctx = client_context(tmp_path, front.client(user="front-proxy-client"))
            headers = {"X-Remote-User": "alice", "X-Remote-Group": "dev"}
            status, body = await ask(url, ctx, headers)
            assert (status, body) == (
                200,
                {"principal": "user:alice", "groups": ["dev"], "admin": False},
            )
            status, body = await ask(url, ctx, {"X-Remote-User": "root-of-team"})
            assert body["admin"] is True
            status, body = await ask(
                url, ctx, {"X-Remote-User": "bob", "X-Remote-Group": "system:masters"}
            )
            assert body["admin"] is True  # system:masters needs no review
            assert reviewer.asked == [
                "alice kill operator.podtap.dev/sessions",
                "root-of-team kill operator.podtap.dev/sessions",
            ]

    asyncio.run(go())


def test_headers_without_the_front_proxy_certificate_are_refused(tmp_path: Path) -> None:
    async def go() -> None:
        async with operator_like(tmp_path, Reviewer(admins=set())) as (url, front):
            plain = client_context(tmp_path, None)
            status, body = await ask(url, plain, {"X-Remote-User": "admin"})
            assert status == 401
            assert "through the Kubernetes API server" in str(body["error"])
            other = client_context(tmp_path, front.client(user="someone-else"))
            status, body = await ask(url, other, {"X-Remote-User": "admin"})
            assert status == 401 and "'someone-else' is not one of" in str(body["error"])

    asyncio.run(go())


def test_a_certificate_of_another_ca_does_not_even_connect(tmp_path: Path) -> None:
    async def go() -> None:
        async with operator_like(tmp_path, Reviewer(admins=set())) as (url, _):
            stranger = ClusterCA.create(cluster="stranger").client(user="front-proxy-client")
            ctx = client_context(tmp_path, stranger)
            with pytest.raises(aiohttp.ClientError):
                await ask(url, ctx, {"X-Remote-User": "admin"})

    asyncio.run(go())


def test_a_missing_serving_certificate_is_one_clear_error(tmp_path: Path) -> None:
    config = RequestHeaderConfig(client_ca_pem=ClusterCA.create(cluster="f").cert_pem.decode())
    with pytest.raises(OperatorError, match=r"cannot load the serving certificate from .*tls.crt"):
        server_ssl(tls_dir=tmp_path, config=config)
