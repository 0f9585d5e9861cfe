"""The operator's HTTP server: `listening` serves an OperatorService on a socket for a block
(`kube_serve` runs it in a cluster; tests run it in-process over a fake cluster)."""

from __future__ import annotations

import contextlib
import logging
import ssl
from collections.abc import AsyncIterator
from pathlib import Path

from aiohttp import web
from aiohttp.http_exceptions import HttpProcessingError

from podtap.backends.base import ClusterBackend
from podtap.operator.api import Identify, OperatorApi
from podtap.operator.policies import PolicySource
from podtap.operator.service import OperatorService, OperatorSettings
from podtap.operator.session_store import SessionStore

log = logging.getLogger("podtap.operator")


class OneLineBadRequests(logging.Filter):
    """aiohttp logs a request it cannot parse as an error with a traceback, whose message
    quotes the offending bytes: whoever can reach the socket could fill the log, with
    text of their choosing. Such a record becomes one warning naming the error only."""

    def filter(self, record: logging.LogRecord) -> bool:
        exc = record.exc_info[1] if record.exc_info else None
        if isinstance(exc, HttpProcessingError):
            peer = record.args[0] if isinstance(record.args, tuple) and record.args else ""
            record.msg = "malformed HTTP request from %s: %s (%d), connection closed"
            record.args = (peer or "a local client", type(exc).__name__, exc.code)
            record.exc_info, record.exc_text = None, None
            if record.levelno > logging.WARNING:
                record.levelno, record.levelname = logging.WARNING, "WARNING"
        return True


http_log = logging.getLogger("podtap.operator.http")  # aiohttp's server log, for our server
http_log.addFilter(OneLineBadRequests())


def _site(runner: web.AppRunner, listen: str, *, tls: ssl.SSLContext | None = None) -> web.BaseSite:
    if listen.startswith("unix:"):
        path = Path(listen.removeprefix("unix:"))
        with contextlib.suppress(FileNotFoundError):
            path.unlink()
        return web.UnixSite(runner, str(path))
    host, _, port = listen.rpartition(":")
    return web.TCPSite(runner, host or "127.0.0.1", int(port), ssl_context=tls)


@contextlib.asynccontextmanager
async def listening(
    settings: OperatorSettings,
    backend: ClusterBackend,
    *,
    listen: str,
    tls: ssl.SSLContext | None = None,
    identify: Identify | None = None,
    store: SessionStore | None = None,
    metrics_listen: str | None = None,
    policies: PolicySource | None = None,
) -> AsyncIterator[OperatorService]:
    """The operator serving on `listen` for the duration of the block (tests run it
    in-process this way); leaving it closes the sessions' connections and saves state.
    A Kubernetes operator serves HTTPS (`tls`), knows its callers by `identify`, keeps
    its sessions in `store`, and may serve `/metrics` alone in plain HTTP on
    `metrics_listen` (for Prometheus, which holds no front-proxy certificate), and enforces
    the `policies` of that source (none by default)."""
    service = OperatorService(settings, backend, store=store, policies=policies)
    await service.start()
    api = OperatorApi(service, identify=identify)
    main = web.AppRunner(api.app(), handle_signals=False, access_log=None, logger=http_log)
    sites: list[tuple[web.AppRunner, str, ssl.SSLContext | None]] = [(main, listen, tls)]
    if metrics_listen is not None:
        metrics = web.Application()
        metrics.router.add_get("/metrics", api.metrics)
        sites.append((web.AppRunner(metrics, access_log=None), metrics_listen, None))
    runners = [runner for runner, _, _ in sites]
    try:
        for runner, where, context in sites:
            await runner.setup()
            await _site(runner, where, tls=context).start()
        if listen.startswith("unix:"):
            Path(listen.removeprefix("unix:")).chmod(0o666)  # identity comes from SO_PEERCRED
        yield service
    finally:
        await service.close()
        for runner in runners:
            await runner.cleanup()
