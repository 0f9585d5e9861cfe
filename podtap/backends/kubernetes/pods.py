"""Pod JSON -> the backend's PodInfo and ContainerInfo (no I/O)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from podtap.backends.base import ContainerInfo, PodInfo
from podtap.core.kube.target_selection import pod_ready

__all__ = ["pod_info"]


def _container(spec: Mapping[str, Any], status: Mapping[str, Any] | None) -> ContainerInfo:
    ports = tuple(int(p["containerPort"]) for p in spec.get("ports") or ())
    state = (status or {}).get("state") or {}
    return ContainerInfo(
        name=str(spec["name"]),
        pid=None,  # the API names the container, not a process on this machine
        ports=ports,
        running="running" in state,
        container_id=(status or {}).get("containerID") or None,
    )


def pod_info(pod: Mapping[str, Any], *, owner: str | None) -> PodInfo:
    """`owner` is the workload the pod belongs to as ``Kind/namespace/name`` (its
    ReplicaSet's Deployment, its Job's CronJob), found by the caller."""
    meta, spec, status = pod["metadata"], pod.get("spec") or {}, pod.get("status") or {}
    statuses = {s.get("name"): s for s in status.get("containerStatuses") or ()}
    return PodInfo(
        namespace=str(meta["namespace"]),
        name=str(meta["name"]),
        ip=str(status.get("podIP") or ""),
        phase=str(status.get("phase") or "Pending"),
        ready=pod_ready(pod),
        labels=dict(meta.get("labels") or {}),
        owner=owner,
        containers=tuple(
            _container(c, statuses.get(c["name"])) for c in spec.get("containers") or ()
        ),
        node=spec.get("nodeName") or None,
    )
