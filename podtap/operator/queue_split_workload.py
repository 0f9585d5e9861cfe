"""The workload side of a queue split: its pod template's env written, and its pods waited for.

A split points the workload's env at its fallback queues and later back at the originals
(:meth:`podtap.core.queues.SplitPlan.env` / ``original_env`` say what to set). The object is
read and written whole through the cluster backend (``list_resources`` / ``put_resource``),
changing nothing but the named vars of the named containers. Its pods count as rolled out
when the workload's status says every replica is updated and ready; a cluster that keeps no
status (the in-memory one) is asked instead what env its resolved pod runs with.
"""

from __future__ import annotations

import asyncio
import copy
import time
from collections.abc import Mapping
from typing import Any

from podtap.backends.base import ClusterBackend, TargetError, TargetRef

__all__ = ["Workload", "WorkloadError", "env_patched"]

KINDS = {"deployment": "Deployment", "statefulset": "StatefulSet"}
EnvChange = Mapping[str, Mapping[str, str | None]]
"""container -> var -> value (``None``: remove the var)."""


class WorkloadError(RuntimeError):
    """The workload cannot be read or written; one line saying what to check."""


def env_patched(obj: Mapping[str, Any], change: EnvChange) -> dict[str, Any]:
    """``obj`` with ``change`` applied to its pod template's containers (a copy)."""
    new = copy.deepcopy(dict(obj))
    new.pop("status", None)
    new["metadata"] = {
        k: v for k, v in new["metadata"].items() if k not in ("resourceVersion", "managedFields")
    }
    for container in new["spec"]["template"]["spec"].get("containers") or []:
        wanted = change.get(container.get("name"), {})
        env = [dict(e) for e in container.get("env") or []]
        for var, value in wanted.items():
            at = next((i for i, e in enumerate(env) if e.get("name") == var), None)
            if value is None:
                env = [e for e in env if e.get("name") != var]
            elif at is None:
                env.append({"name": var, "value": value})
            else:
                env[at] = {"name": var, "value": value}
        if wanted:
            container["env"] = env
    return new


def _rolled_out(obj: Mapping[str, Any]) -> bool | None:
    """From the workload's status: whether every replica runs its template (None: no status)."""
    status, meta = obj.get("status") or {}, obj.get("metadata") or {}
    if "observedGeneration" not in status:
        return None
    want = int((obj.get("spec") or {}).get("replicas", 1))
    return (
        int(status["observedGeneration"]) >= int(meta.get("generation", 0))
        and int(status.get("updatedReplicas", 0)) == want
        and int(status.get("readyReplicas", 0)) == want
        and int(status.get("replicas", 0)) == want
    )


class Workload:
    """One Deployment or StatefulSet of ``namespace``, as the split sees it."""

    def __init__(self, backend: ClusterBackend, *, kind: str, namespace: str, name: str) -> None:
        if kind not in KINDS:
            raise WorkloadError(
                f"feature.split_queues needs a deployment or statefulset target, not a {kind}"
            )
        self.backend, self.kind, self.namespace, self.name = backend, kind, namespace, name
        self.expected: EnvChange = {}

    @property
    def label(self) -> str:
        return f"{self.kind}/{self.name}"

    async def read(self) -> dict[str, Any]:
        for obj in await self.backend.list_resources(KINDS[self.kind], namespace=self.namespace):
            if obj["metadata"]["name"] == self.name:
                return obj
        raise WorkloadError(f"{self.label} not found in namespace {self.namespace!r}")

    async def pod_spec(self) -> dict[str, Any]:
        spec: dict[str, Any] = (await self.read())["spec"]["template"]["spec"]
        return spec

    async def set_env(self, change: EnvChange) -> None:
        """Write ``change`` into the pod template (its pods then roll out)."""
        try:
            await self.backend.put_resource(env_patched(await self.read(), change))
        except (ValueError, OSError) as exc:
            raise WorkloadError(f"cannot update {self.label}'s env: {exc}") from None
        self.expected = change

    async def wait_ready(self, *, timeout: float, every: float = 0.2) -> None:
        """Return once the pods run the env last set; WorkloadError after ``timeout``."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if await self._ready():
                return
            await asyncio.sleep(every)  # polling the cluster, not synchronising a test
        raise WorkloadError(f"{self.label}'s pods not ready within {timeout:g} s")

    async def _ready(self) -> bool:
        by_status = _rolled_out(await self.read())
        if by_status is not None:
            return by_status
        try:
            target = TargetRef.parse(self.label)
            resolved = await self.backend.resolve(target, namespace=self.namespace)
            env = await self.backend.container_env(resolved)
        except (TargetError, OSError):
            return False
        for container, wanted in self.expected.items():
            if container != resolved.container.name:
                continue
            if any(env.get(var) != value for var, value in wanted.items()):
                return False
        return True
