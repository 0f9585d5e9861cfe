"""A container's environment from its pod spec and the ConfigMaps, Secrets and Services it
names, read through the API and put together by `core.kube.container_env`."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from podtap.backends.base import ResolvedTarget, TargetNotReady
from podtap.backends.kubernetes.rest import Rest
from podtap.core.kube.container_env import EnvSourceError, container_env, secret_text

__all__ = ["read"]

Ref = tuple[str, str]  # (ConfigMap | Secret, name)


def _references(container: Mapping[str, Any]) -> set[Ref]:
    refs: set[Ref] = set()
    for source in container.get("envFrom") or ():
        if "configMapRef" in source:
            refs.add(("ConfigMap", source["configMapRef"].get("name", "")))
        if "secretRef" in source:
            refs.add(("Secret", source["secretRef"].get("name", "")))
    for var in container.get("env") or ():
        value_from = var.get("valueFrom") or {}
        if "configMapKeyRef" in value_from:
            refs.add(("ConfigMap", value_from["configMapKeyRef"].get("name", "")))
        if "secretKeyRef" in value_from:
            refs.add(("Secret", value_from["secretKeyRef"].get("name", "")))
    return refs


async def _data(rest: Rest, namespace: str, ref: Ref) -> dict[str, str] | None:
    plural = "configmaps" if ref[0] == "ConfigMap" else "secrets"
    obj = await rest.get_or_none(f"/api/v1/namespaces/{namespace}/{plural}/{ref[1]}")
    if obj is None:
        return None
    return secret_text(obj) if ref[0] == "Secret" else dict(obj.get("data") or {})


async def read(rest: Rest, resolved: ResolvedTarget) -> dict[str, str]:
    ns, name = resolved.namespace, resolved.pod.name
    pod = await rest.get_or_none(f"/api/v1/namespaces/{ns}/pods/{name}")
    if pod is None:  # as reading the environ of an exited process fails
        raise ProcessLookupError(f"container {resolved.container.name} of pod {name} is gone")
    wanted = resolved.container.name
    (container,) = [c for c in pod["spec"]["containers"] if c["name"] == wanted]
    fetched = {ref: await _data(rest, ns, ref) for ref in _references(container)}
    services = list((await rest.get(f"/api/v1/namespaces/{ns}/services")).get("items") or [])
    if ns != "default":
        master = await rest.get_or_none("/api/v1/namespaces/default/services/kubernetes")
        services += [master] if master else []
    try:
        return container_env(
            pod, wanted, sources=lambda kind, n: fetched.get((kind, n)), services=services
        )
    except EnvSourceError as exc:
        raise TargetNotReady(f"container {wanted} of pod {name} cannot start: {exc}") from None
