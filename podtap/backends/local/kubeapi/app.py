"""The Kubernetes API server as a component: an aiohttp app, its TLS, and a way to run it.

`build_app` is what the node will mount; `serving` runs it on its own (tests, and the node
until it is rewired) on 127.0.0.1 with a fresh CA, a serving certificate and an admin
kubeconfig in a private directory. Errors leave every handler as `ApiError` and become the
Status body here, in one place; anything else is a 500 InternalError Status, as kube-apiserver
answers a panic, and is logged with its traceback.
"""

from __future__ import annotations

import contextlib
import logging
import socket
import tempfile
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path

from aiohttp import web

from podtap.backends.local.kubeapi import http, kinds, kubeconfig, meta_http
from podtap.backends.local.kubeapi.aggregation import aggregation
from podtap.backends.local.kubeapi.auth import Handler, Identity, authentication
from podtap.backends.local.kubeapi.authz import access
from podtap.backends.local.kubeapi.context import CONTEXT, ApiContext
from podtap.backends.local.kubeapi.events import EventRecorder
from podtap.backends.local.kubeapi.pki import ClusterCA, server_ssl_context
from podtap.backends.local.kubeapi.status import ApiError
from podtap.core.kube.patch import PatchError
from podtap.core.kube.refusal import Refusal
from podtap.net.tasks import TaskSet

log = logging.getLogger(__name__)


@web.middleware
async def statuses(request: web.Request, handler: Handler) -> web.StreamResponse:
    """ApiError (and aiohttp's own 404/405) become Status objects."""
    try:
        return await handler(request)
    except ApiError as e:
        return web.json_response(e.body(), status=e.code)
    except (PatchError, Refusal) as e:
        # The pure modules' refusals carry the Status kube-apiserver sends.
        return web.json_response(e.status(), status=e.code)
    except web.HTTPNotFound:
        body = ApiError(404, "NotFound", "the server could not find the requested resource")
        return web.json_response(body.body(), status=404)
    except web.HTTPMethodNotAllowed:
        body = ApiError(
            405,
            "MethodNotAllowed",
            "the server does not allow this method on the requested resource",
        )
        return web.json_response(body.body(), status=405)
    except Exception as e:
        log.exception("kubeapi: %s %s failed", request.method, request.path)
        body = ApiError(500, "InternalError", f"Internal error occurred: {e}")
        return web.json_response(body.body(), status=500)


def build_app(ctx: ApiContext) -> web.Application:
    """The API as an app; `ctx` holds its state (seeded with the system namespaces)."""
    kinds.seed(ctx)
    kinds.restore_types(ctx)
    app = web.Application(
        middlewares=[statuses, authentication(ctx.tokens), access(ctx.rbac), aggregation()],
        client_max_size=3 * 1024 * 1024,
    )
    app[CONTEXT] = ctx
    app.add_routes(meta_http.routes())
    app.add_routes(http.routes())

    async def closing(_app: web.Application) -> None:
        ctx.closing.set()

    async def recording(_app: web.Application) -> AsyncIterator[None]:
        tasks = TaskSet()
        tasks.spawn(EventRecorder(ctx).run(), name="event recorder")
        yield
        await tasks.close()

    app.on_shutdown.append(closing)
    app.cleanup_ctx.append(recording)
    return app


@dataclass(frozen=True)
class Running:
    """A running API server: where it is and how to reach it as admin."""

    url: str
    ca: ClusterCA
    context: ApiContext
    kubeconfig: Path
    workdir: Path

    def kubeconfig_for(self, *, user: str, groups: tuple[str, ...] = (), name: str = "") -> Path:
        """Write a kubeconfig for a limited `user` (client certificate) and return its path."""
        config = kubeconfig.for_user(
            ca=self.ca, cluster="podtap", server=self.url, user=user, groups=groups
        )
        return kubeconfig.write(self.workdir / (name or f"kubeconfig-{user}"), config)

    def token_for(self, identity: Identity) -> str:
        return self.context.tokens.issue(identity)


@contextlib.asynccontextmanager
async def serving(
    *,
    ctx: ApiContext | None = None,
    host: str = "127.0.0.1",
    port: int = 0,
    cluster: str = "podtap",
) -> AsyncIterator[Running]:
    """Run the API over HTTPS on host:port (0: any free port) for the block."""
    ctx = ctx or ApiContext()
    ca = ClusterCA.create(cluster=cluster)
    with tempfile.TemporaryDirectory(prefix="podtap-kubeapi-") as tmp:
        workdir = Path(tmp)
        ssl_ctx = server_ssl_context(
            ca_pem=ca.cert_pem, serving=ca.serving(hosts=[host, "localhost"]), workdir=workdir
        )
        runner = web.AppRunner(build_app(ctx), access_log=None, shutdown_timeout=2.0)
        await runner.setup()
        try:
            sock = socket.create_server((host, port))
            site = web.SockSite(runner, sock, ssl_context=ssl_ctx)
            await site.start()
            bound = sock.getsockname()[1]
            ctx.address = f"{host}:{bound}"
            url = f"https://{host}:{bound}"
            config = kubeconfig.for_user(ca=ca, cluster=cluster, server=url)
            path = kubeconfig.write(workdir / "kubeconfig", config)
            yield Running(url, ca, ctx, path, workdir)
        finally:
            await runner.cleanup()
