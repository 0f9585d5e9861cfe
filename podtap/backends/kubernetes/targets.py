"""Targets through the API: read the workload and its pods, decide with core.kube."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from podtap.backends.base import TargetKind, TargetNotFound, TargetRef, TargetSummary
from podtap.backends.kubernetes.discovery import Discovery, UnknownKind
from podtap.backends.kubernetes.rest import Rest
from podtap.core.kube.target_selection import (
    active_job_names,
    controller_of,
    pod_ready,
    selected_pods,
    workload_selector,
)

__all__ = ["LISTED", "WORKLOADS", "Targets"]

Obj = dict[str, Any]
#: target kind -> (Kind, apiVersion) of the object it names
WORKLOADS: dict[TargetKind, tuple[str, str]] = {
    "deployment": ("Deployment", "apps/v1"),
    "statefulset": ("StatefulSet", "apps/v1"),
    "service": ("Service", "v1"),
    "rollout": ("Rollout", "argoproj.io/v1alpha1"),
    "replicaset": ("ReplicaSet", "apps/v1"),
    "job": ("Job", "batch/v1"),
    "cronjob": ("CronJob", "batch/v1"),
}
#: the order of `podtap ls`: pods, then each workload kind
LISTED: tuple[TargetKind, ...] = ("pod", *WORKLOADS)
#: a pod's controller -> the workload that controls that one in turn
_PARENTS = {"ReplicaSet": ("Deployment", "Rollout"), "Job": ("CronJob",)}


def _name(obj: Obj) -> str:
    return str(obj["metadata"]["name"])


class Targets:
    def __init__(self, rest: Rest, discovery: Discovery) -> None:
        self._rest, self._discovery = rest, discovery

    async def objects(self, kind: str, api_version: str, namespace: str | None) -> list[Obj]:
        """Every object of a kind (none when the cluster does not serve it, as Rollouts
        without Argo)."""
        try:
            rt = await self._discovery.find(kind, api_version=api_version)
        except UnknownKind:
            return []
        return list((await self._rest.get(rt.path(namespace=namespace))).get("items") or [])

    async def get(self, kind: str, api_version: str, namespace: str, name: str) -> Obj | None:
        try:
            rt = await self._discovery.find(kind, api_version=api_version)
        except UnknownKind:
            return None
        return await self._rest.get_or_none(rt.path(namespace=namespace, name=name))

    async def workload(self, ref: TargetRef, namespace: str) -> Obj:
        kind, api_version = WORKLOADS[ref.kind]
        found = await self.get(kind, api_version, namespace, ref.name)
        if found is None:
            raise TargetNotFound(
                f"{ref.kind} {ref.name!r} not found in namespace {namespace!r} "
                "(list targets with `podtap ls`)"
            )
        return found

    async def selector(self, ref: TargetRef, obj: Obj, namespace: str) -> Mapping[str, Any] | None:
        """What selects the pods of `obj`: a CronJob's is that of its newest active Job, a
        Rollout's may be that of the Deployment its workloadRef names."""
        if ref.kind == "cronjob":
            jobs = await self.objects("Job", "batch/v1", namespace)
            newest = active_job_names(obj, jobs)
            by_name = {_name(j): j for j in jobs}
            return workload_selector("job", by_name[newest[0]]) if newest else None
        deployment = None
        if ref.kind == "rollout" and (wanted := (obj.get("spec") or {}).get("workloadRef")):
            deployment = await self.get("Deployment", "apps/v1", namespace, wanted.get("name"))
        return workload_selector(ref.kind, obj, deployment=deployment)

    async def pods(self, ref: TargetRef, namespace: str) -> list[Obj]:
        """The target's pods, by name; TargetNotFound when what it names does not exist."""
        if ref.kind == "pod":
            pod = await self._rest.get_or_none(f"/api/v1/namespaces/{namespace}/pods/{ref.name}")
            if pod is None:
                raise TargetNotFound(f"pod {ref.name!r} not found in namespace {namespace!r}")
            return [pod]
        listed = await self.objects("Pod", "v1", namespace)
        if ref.kind == "label":
            return selected_pods({"matchLabels": ref.labels}, listed)
        obj = await self.workload(ref, namespace)
        return selected_pods(await self.selector(ref, obj, namespace), listed)

    async def owner(self, pod: Obj) -> str | None:
        """``Kind/namespace/name`` of the workload a pod belongs to (a Deployment rather than
        its ReplicaSet, a CronJob rather than its Job)."""
        namespace, found = pod["metadata"]["namespace"], controller_of(pod)
        if found is None:
            return None
        kind, name = found
        if kind in _PARENTS:
            api_version = "apps/v1" if kind == "ReplicaSet" else "batch/v1"
            middle = await self.get(kind, api_version, namespace, name)
            parent = controller_of(middle) if middle is not None else None
            if parent is not None and parent[0] in _PARENTS[kind]:
                kind, name = parent
        return f"{kind}/{namespace}/{name}"

    async def summaries(self, namespace: str | None) -> list[TargetSummary]:
        pods = await self.objects("Pod", "v1", namespace)
        out = [
            TargetSummary(TargetRef("pod", _name(p)), p["metadata"]["namespace"], pod_ready(p))
            for p in sorted(pods, key=lambda p: (p["metadata"]["namespace"], _name(p)))
        ]
        for kind, (object_kind, api_version) in WORKLOADS.items():
            objects = await self.objects(object_kind, api_version, namespace)
            for obj in sorted(objects, key=lambda o: (o["metadata"]["namespace"], _name(o))):
                ns, ref = obj["metadata"]["namespace"], TargetRef(kind, _name(obj))
                in_ns = [p for p in pods if p["metadata"]["namespace"] == ns]
                chosen = selected_pods(await self.selector(ref, obj, ns), in_ns)
                out.append(TargetSummary(ref, ns, any(pod_ready(p) for p in chosen)))
        return out
