"""`podtap operator serve --kube`: the operator as the Helm chart runs it, in a cluster.

It talks to the cluster only through the Kubernetes API (in-cluster config, or a kubeconfig
for an operator run from a laptop against a cluster), serves its aggregated API over HTTPS
to the kube-apiserver alone (front-proxy identity, `kube_identity`), and keeps its sessions
as `PodtapSession` objects, so that a restart — or another replica — resumes them.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import os
import signal
import ssl
import sys
from collections.abc import AsyncIterator, Coroutine
from pathlib import Path
from typing import Any

from aiohttp import web
from kubernetes_asyncio.client import ApiClient

from podtap.backends.base import AgentStartFailed
from podtap.backends.kubernetes.access import SubjectAccessReviewer, TokenReviewer
from podtap.backends.kubernetes.backend import KubernetesBackend
from podtap.backends.kubernetes.config import in_cluster_client, kubeconfig_client
from podtap.backends.kubernetes.policy_watch import PolicyWatch
from podtap.backends.kubernetes.rest import ApiError, Rest
from podtap.core.kube.requestheader import (
    CONFIGMAP_NAME,
    CONFIGMAP_NAMESPACE,
    RequestHeaderConfig,
)
from podtap.core.lifecycle import Limits
from podtap.net.tasks import TaskSet
from podtap.operator.kube_identity import FrontProxyIdentity, server_ssl
from podtap.operator.kube_settings import KubeOperatorSettings
from podtap.operator.leader import LeaderElection, NotLeading
from podtap.operator.server import listening
from podtap.operator.service import OperatorSettings
from podtap.operator.session_store import CrdSessionStore

#: seconds a new leader leaves the agents of an earlier one for their sessions to resume
#: (an agent with no operator exits after 10 s by itself)
ADOPT_WINDOW = 15.0
log = logging.getLogger("podtap.operator")


class JsonLines(logging.Formatter):
    """One JSON object per line (`jsonLog: true`), for log collectors."""

    def format(self, record: logging.LogRecord) -> str:
        line = {
            "time": self.formatTime(record, "%Y-%m-%dT%H:%M:%S%z"),
            "level": record.levelname.lower(),
            "logger": record.name,
            "message": record.getMessage(),
        }
        if record.exc_info:
            line["error"] = self.formatException(record.exc_info)
        return json.dumps(line)


class StartFailed(RuntimeError):
    """The operator cannot serve; the message says what to fix."""


async def request_header_config(rest: Rest) -> RequestHeaderConfig:
    """What the API server publishes for aggregated servers (needs the chart's RoleBinding
    to `extension-apiserver-authentication-reader` in kube-system)."""
    path = f"/api/v1/namespaces/{CONFIGMAP_NAMESPACE}/configmaps/{CONFIGMAP_NAME}"
    try:
        found = await rest.get(path)
    except ApiError as exc:
        raise StartFailed(
            f"cannot read {CONFIGMAP_NAMESPACE}/{CONFIGMAP_NAME}: {exc} "
            "(the operator's ServiceAccount needs the extension-apiserver-authentication-reader "
            "Role in kube-system: the chart binds it)"
        ) from None
    try:
        return RequestHeaderConfig.from_configmap(found.get("data") or {})
    except ValueError as exc:
        raise StartFailed(str(exc)) from None


async def kube_backend(
    *, kubeconfig: Path | None, context: str | None
) -> tuple[ApiClient, KubernetesBackend]:
    """In-cluster when run in a pod (and no kubeconfig is given): agents are reached on their
    pod IP (unless PODTAP_AGENT_CONNECT says otherwise; the chart grants no
    pods/portforward); else the kubeconfig, from outside, reaching them by port-forward."""
    if kubeconfig is None and context is None and os.environ.get("KUBERNETES_SERVICE_HOST"):
        api = in_cluster_client()
        return api, KubernetesBackend.in_cluster(api)
    api = await kubeconfig_client(path=kubeconfig, context=context)
    return api, KubernetesBackend(api)


async def _follower_health(listen: str, tls: ssl.SSLContext) -> web.AppRunner:
    """While another replica leads: `/healthz` answers 200 (alive and ready, as the chart's
    probes ask), everything else 503 — the chart's Service reaches only the leader anyway."""

    async def healthy(request: web.Request) -> web.Response:
        return web.json_response({"ok": True, "leader": False})

    async def not_leader(request: web.Request) -> web.Response:
        return web.json_response({"error": "this operator replica is not the leader"}, status=503)

    app = web.Application()
    app.router.add_get("/healthz", healthy)
    app.router.add_get("/readyz", healthy)
    app.router.add_route("*", "/{tail:.*}", not_leader)
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    host, _, port = listen.rpartition(":")
    await web.TCPSite(runner, host, int(port), ssl_context=tls, reuse_address=True).start()
    return runner


async def _first(waits: dict[str, Coroutine[Any, Any, object]]) -> None:
    """Return when the first of `waits` (named coroutines) returns; the others are cancelled."""
    tasks = TaskSet()
    try:
        started = [tasks.spawn(coro, name=name) for name, coro in waits.items()]
        await asyncio.wait(started, return_when=asyncio.FIRST_COMPLETED)
    finally:
        await tasks.close()


async def _agent_owner(backend: KubernetesBackend) -> dict[str, Any] | None:
    """Read the owner of agent pods (PODTAP_AGENT_OWNER), also the Lease's: a leader that
    cannot give them an owner fails its start in one line rather than leave objects no
    uninstall takes."""
    try:
        return await backend.agent_pods.owner()
    except AgentStartFailed as exc:
        raise StartFailed(str(exc)) from None


@contextlib.asynccontextmanager
async def _janitor(backend: KubernetesBackend) -> AsyncIterator[None]:
    tasks = TaskSet()
    tasks.spawn(_delete_unadopted(backend), name="agents not adopted")
    try:
        yield
    finally:
        await tasks.close()


@contextlib.asynccontextmanager
async def _policies(backend: KubernetesBackend) -> AsyncIterator[PolicyWatch]:
    """The cluster's policies, watched; yielded once every kind is listed, so no session
    is decided on a partial view."""
    async with PolicyWatch.for_backend(backend) as policies:
        await policies.synced()
        log.info("policies: watching %s", ", ".join(policies.watched) or "no kind yet")
        yield policies


async def _delete_unadopted(backend: KubernetesBackend) -> None:
    """Once the clients of a previous leader had time to resume (and so to have their
    agents adopted), delete the agent pods it left that no one took."""
    await asyncio.sleep(ADOPT_WINDOW)
    left = await backend.delete_leftover_agents()
    if left:
        log.info("deleted %d agent pods a previous operator left and no session took", left)


async def _leads(election: LeaderElection) -> None:
    with contextlib.suppress(NotLeading):  # the election ended: `lost` says so
        await election.leading()


async def serve_kube(
    settings: KubeOperatorSettings,
    *,
    limits: Limits,
    kubeconfig: Path | None = None,
    context: str | None = None,
    stop: asyncio.Event | None = None,
) -> None:
    """Serve until `stop` is set (or SIGTERM/SIGINT when none is given). Of several
    replicas one leads (a Lease): it alone restores and serves the sessions; it ends when it
    stops leading (StartFailed), to be restarted as a follower by its kubelet."""
    if stop is None:
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(sig, stop.set)
    api, backend = await kube_backend(kubeconfig=kubeconfig, context=context)
    rest = Rest(api)
    try:
        config = await request_header_config(rest)
        tls = server_ssl(tls_dir=settings.tls_dir, config=config)
        identity = FrontProxyIdentity(
            config, SubjectAccessReviewer(rest), tokens=TokenReviewer(rest)
        )
        operator = OperatorSettings(
            state_dir=settings.state_dir, limits=limits, namespace=settings.namespace
        )
        election = LeaderElection(
            rest=rest,
            namespace=settings.namespace,
            lease_name=settings.lease_name,
            identity=settings.pod_name,
            label=settings.leader_label,
            owner=await _agent_owner(backend),
        )
        async with election:
            follower = await _follower_health(settings.listen, tls)
            print("ready", flush=True)
            log.info(
                "operator %s waiting to lead (lease %s)", settings.pod_name, settings.lease_name
            )
            try:
                await _first({"stop": stop.wait(), "lead": _leads(election)})
            finally:
                await follower.cleanup()
            if stop.is_set():
                return
            if election.lost.is_set():
                raise StartFailed(f"{settings.pod_name} lost the election before it led")
            await _agent_owner(backend)
            # Agents a previous leader left are adopted when their sessions resume, with the
            # token both derive from the chart's TLS key; the rest go after ADOPT_WINDOW.
            backend.agent_pods.token_key = (settings.tls_dir / "tls.key").read_bytes()
            async with (
                _janitor(backend),
                _policies(backend) as policies,
                listening(
                    operator,
                    backend,
                    listen=settings.listen,
                    tls=tls,
                    identify=identity.caller,
                    store=CrdSessionStore(rest),
                    policies=policies,
                    metrics_listen=f"0.0.0.0:{settings.metrics_port}"
                    if settings.metrics_port
                    else None,
                ),
            ):
                log.info(
                    "operator %s leads, serving on %s (HTTPS)", settings.pod_name, settings.listen
                )
                await _first({"stop": stop.wait(), "lost": election.lost.wait()})
                backend.agent_pods.handing_over = True  # the agents stay for the next leader
            if election.lost.is_set() and not stop.is_set():
                raise StartFailed(f"{settings.pod_name} stopped leading: exiting to rejoin")
            log.info("operator stopping")
    finally:
        await backend.aclose()


def run_kube(*, limits: Limits, kubeconfig: Path | None = None, context: str | None = None) -> None:
    """The CLI's entry: settings from the environment (the chart's contract)."""
    settings = KubeOperatorSettings.from_env(os.environ)
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(
        JsonLines()
        if settings.json_log
        else logging.Formatter("%(asctime)s operator %(levelname)s %(message)s")
    )
    logging.basicConfig(level=settings.log_level, handlers=[handler])
    asyncio.run(serve_kube(settings, limits=limits, kubeconfig=kubeconfig, context=context))
