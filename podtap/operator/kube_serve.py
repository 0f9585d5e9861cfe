"""`podtap operator serve --kube`: the operator as the Helm chart runs it, in a cluster.

It talks to the cluster only through the Kubernetes API (in-cluster config, or a kubeconfig
for an operator run from a laptop against a cluster), serves its aggregated API over HTTPS
to the kube-apiserver alone (front-proxy identity, `kube_identity`), and keeps its sessions
as `PodtapSession` objects, so that a restart — or another replica — resumes them.
"""

from __future__ import annotations

import asyncio
import json
import logging
import os
import signal
import sys
from pathlib import Path

from kubernetes_asyncio.client import ApiClient

from podtap.backends.kubernetes.access import SubjectAccessReviewer
from podtap.backends.kubernetes.backend import KubernetesBackend
from podtap.backends.kubernetes.config import in_cluster_client, kubeconfig_client
from podtap.backends.kubernetes.rest import ApiError, Rest
from podtap.core.kube.requestheader import (
    CONFIGMAP_NAME,
    CONFIGMAP_NAMESPACE,
    RequestHeaderConfig,
)
from podtap.core.lifecycle import Limits
from podtap.operator.kube_identity import FrontProxyIdentity, server_ssl
from podtap.operator.kube_settings import KubeOperatorSettings
from podtap.operator.server import listening
from podtap.operator.service import OperatorSettings
from podtap.operator.session_store import CrdSessionStore

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


async def api_client(*, kubeconfig: Path | None, context: str | None) -> ApiClient:
    """In-cluster when run in a pod (and no kubeconfig is given), else the kubeconfig."""
    if kubeconfig is None and context is None and os.environ.get("KUBERNETES_SERVICE_HOST"):
        return in_cluster_client()
    return await kubeconfig_client(path=kubeconfig, context=context)


async def serve_kube(
    settings: KubeOperatorSettings,
    *,
    limits: Limits,
    kubeconfig: Path | None = None,
    context: str | None = None,
    stop: asyncio.Event | None = None,
) -> None:
    """Serve until `stop` is set (or SIGTERM/SIGINT when none is given)."""
    api = await api_client(kubeconfig=kubeconfig, context=context)
    rest = Rest(api)
    backend = KubernetesBackend(api)
    try:
        config = await request_header_config(rest)
        tls = server_ssl(tls_dir=settings.tls_dir, config=config)
        identity = FrontProxyIdentity(config, SubjectAccessReviewer(rest))
        operator = OperatorSettings(state_dir=settings.state_dir, limits=limits)
        async with listening(
            operator,
            backend,
            listen=settings.listen,
            tls=tls,
            identify=identity.caller,
            store=CrdSessionStore(rest),
            metrics_listen=f"0.0.0.0:{settings.metrics_port}" if settings.metrics_port else None,
        ):
            if stop is None:
                stop = asyncio.Event()
                loop = asyncio.get_running_loop()
                for sig in (signal.SIGTERM, signal.SIGINT):
                    loop.add_signal_handler(sig, stop.set)
            log.info("operator %s serving on %s (HTTPS)", settings.pod_name, settings.listen)
            print("ready", flush=True)
            await stop.wait()
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
