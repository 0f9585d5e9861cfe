"""An ApiClient from in-cluster config or a kubeconfig (path + context), with clear errors."""

from __future__ import annotations

import os
from pathlib import Path

from kubernetes_asyncio import config
from kubernetes_asyncio.client import ApiClient, Configuration
from kubernetes_asyncio.config.config_exception import ConfigException

__all__ = ["ConfigError", "in_cluster_client", "kubeconfig_client", "kubeconfig_paths"]

DEFAULT_KUBECONFIG = "~/.kube/config"


class ConfigError(RuntimeError):
    """No usable cluster configuration; the message says what to give instead."""


def kubeconfig_paths(path: str | Path | None) -> list[Path]:
    """`path`, else $KUBECONFIG (a list, as kubectl reads it), else ~/.kube/config."""
    if path is not None:
        return [Path(path).expanduser()]
    listed = [p for p in os.environ.get("KUBECONFIG", "").split(os.pathsep) if p]
    return [Path(p).expanduser() for p in listed] or [Path(DEFAULT_KUBECONFIG).expanduser()]


async def kubeconfig_client(*, path: str | Path | None, context: str | None) -> ApiClient:
    paths = kubeconfig_paths(path)
    present = [p for p in paths if p.is_file()]
    if not present:
        shown = os.pathsep.join(str(p) for p in paths)
        raise ConfigError(
            f"kubeconfig {shown} does not exist: give the path of one (--kubeconfig, "
            "$KUBECONFIG), or run podtap inside the cluster"
        )
    joined = os.pathsep.join(str(p) for p in present)
    try:
        contexts, current = config.list_kube_config_contexts(config_file=joined)
    except ConfigException as exc:
        raise ConfigError(f"kubeconfig {joined} cannot be read: {exc}") from None
    names = [str(c.get("name")) for c in contexts or ()]
    if context is not None and context not in names:
        raise ConfigError(
            f"context {context!r} is not in kubeconfig {joined} "
            f"(it has {', '.join(names) or 'none'}); `kubectl config get-contexts` lists them"
        )
    if context is None and current is None:
        raise ConfigError(
            f"kubeconfig {joined} names no current context: give one "
            f"(it has {', '.join(names) or 'none'})"
        )
    configuration = Configuration()
    try:
        await config.load_kube_config(
            config_file=joined,
            context=context,
            client_configuration=configuration,
            persist_config=False,
        )
    except ConfigException as exc:
        raise ConfigError(f"kubeconfig {joined}: {exc}") from None
    return ApiClient(configuration)


def in_cluster_client() -> ApiClient:
    """The pod's service account (token refreshed as kubelet rotates it)."""
    configuration = Configuration()
    try:
        config.load_incluster_config(client_configuration=configuration)  # type: ignore[no-untyped-call]
    except ConfigException as exc:
        raise ConfigError(f"not running in a cluster ({exc}): give a kubeconfig instead") from None
    return ApiClient(configuration)
