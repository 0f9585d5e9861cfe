"""The workload side of a queue split: its pod template's env written, and its pods waited for.

A split points the workload's env at its fallback queues and later back at the originals
(:meth:`podtap.core.queues.SplitPlan.env` / ``original_env`` say what to set). The object is
read and written whole through the cluster backend (``list_resources`` / ``put_resource``),
changing nothing but the named vars of the named containers. Its pods count as rolled out
when the workload's status says every replica is updated and ready; a cluster that keeps no
status (the in-memory one) is asked instead what env its resolved pod runs with.

What a split has done to the workload and its brokers is kept on the workload itself, in
the annotation ``queues.podtap.dev/split`` (:class:`SplitRecord`: the env to restore, the
queues made and their originals), written before the operator goes on: an operator that
dies with a split running leaves the record, and the next one finishes the split from it
(:mod:`podtap.operator.queue_split_leftovers`). Names of queues and env values only — no
broker credentials.
"""

from __future__ import annotations

import asyncio
import copy
import json
import time
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from podtap.backends.base import ClusterBackend, TargetError, TargetRef

__all__ = [
    "RECORD_ANNOTATION",
    "SplitRecord",
    "Workload",
    "WorkloadError",
    "WorkloadGone",
    "env_patched",
]

RECORD_ANNOTATION = "queues.podtap.dev/split"

KINDS = {"deployment": "Deployment", "statefulset": "StatefulSet", "rollout": "Rollout"}
EnvChange = Mapping[str, Mapping[str, str | None]]
"""container -> var -> value (``None``: remove the var)."""


class WorkloadError(RuntimeError):
    """The workload cannot be read or written; one line saying what to check."""


class WorkloadGone(WorkloadError):
    """The workload is not there (deleted)."""


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


@dataclass(frozen=True, slots=True)
class SplitRecord:
    """What a running split changed: ``restore`` (the env to set back, as ``EnvChange``) and
    ``made`` (each queue it created -> the original it drains back into)."""

    restore: dict[str, dict[str, str | None]] = field(default_factory=dict)
    made: dict[str, str] = field(default_factory=dict)

    def encode(self) -> str:
        return json.dumps({"restore": self.restore, "made": self.made}, sort_keys=True)

    @classmethod
    def of(cls, obj: Mapping[str, Any]) -> SplitRecord | None:
        """The record on workload ``obj`` (None: none, or not one podtap wrote)."""
        raw = ((obj.get("metadata") or {}).get("annotations") or {}).get(RECORD_ANNOTATION)
        if not isinstance(raw, str):
            return None
        try:
            data = json.loads(raw)
            restore = {
                str(c): {str(k): None if v is None else str(v) for k, v in d.items()}
                for c, d in data["restore"].items()
            }
            made = {str(k): str(v) for k, v in data["made"].items()}
        except (ValueError, TypeError, KeyError, AttributeError):
            return None
        return cls(restore=restore, made=made)


def recorded(obj: Mapping[str, Any], record: SplitRecord | None) -> dict[str, Any]:
    """``obj`` (a copy, written whole) carrying ``record`` (None: without one)."""
    new = env_patched(obj, {})
    annotations = dict(new["metadata"].get("annotations") or {})
    annotations.pop(RECORD_ANNOTATION, None)
    if record is not None:
        annotations[RECORD_ANNOTATION] = record.encode()
    new["metadata"]["annotations"] = annotations
    return new


def _rolled_out(obj: Mapping[str, Any]) -> bool | None:
    """From the workload's status: whether every replica runs its template (None: no status)."""
    status, meta = obj.get("status") or {}, obj.get("metadata") or {}
    try:
        observed = int(status["observedGeneration"])
    except (KeyError, TypeError, ValueError):  # none, or an Argo Rollout's hash: ask the pods
        return None
    want = int((obj.get("spec") or {}).get("replicas", 1))
    return (
        observed >= int(meta.get("generation", 0))
        and int(status.get("updatedReplicas", 0)) == want
        and int(status.get("readyReplicas", 0)) == want
        and int(status.get("replicas", 0)) == want
    )


class Workload:
    """One Deployment or StatefulSet of ``namespace``, as the split sees it."""

    def __init__(self, backend: ClusterBackend, *, kind: str, namespace: str, name: str) -> None:
        if kind not in KINDS:
            raise WorkloadError(
                f"feature.split_queues needs a deployment, statefulset or rollout target, "
                f"not a {kind}"
            )
        self.backend, self.kind, self.namespace, self.name = backend, kind, namespace, name
        self.expected: EnvChange = {}
        # each write puts the object whole, as read: two at once would undo one another
        self._writing = asyncio.Lock()

    @property
    def label(self) -> str:
        return f"{self.kind}/{self.name}"

    async def read(self) -> dict[str, Any]:
        for obj in await self.backend.list_resources(KINDS[self.kind], namespace=self.namespace):
            if obj["metadata"]["name"] == self.name:
                return obj
        raise WorkloadGone(f"{self.label} not found in namespace {self.namespace!r}")

    async def pod_spec(self) -> dict[str, Any]:
        obj = await self.read()
        template = (obj.get("spec") or {}).get("template")
        if template is None:  # an Argo Rollout's workloadRef: its pods are another's
            ref = (obj.get("spec") or {}).get("workloadRef") or {}
            raise WorkloadError(
                f"{self.label} takes its pod template from {str(ref.get('kind', '?')).lower()}"
                f"/{ref.get('name', '?')} (workloadRef), which a split cannot repoint yet"
            )
        spec: dict[str, Any] = template["spec"]
        return spec

    async def set_env(self, change: EnvChange) -> None:
        """Write ``change`` into the pod template (its pods then roll out)."""
        async with self._writing:
            try:
                await self.backend.put_resource(env_patched(await self.read(), change))
            except (ValueError, OSError) as exc:
                raise WorkloadError(f"cannot update {self.label}'s env: {exc}") from None
        self.expected = change

    async def record(
        self,
        *,
        restore: EnvChange | None = None,
        made: Mapping[str, str] | None = None,
        gone: Iterable[str] = (),
        clear: bool = False,
    ) -> None:
        """Update the split's record on the workload: the env to ``restore``, queues
        ``made`` (name -> original) and ``gone``; ``clear``: the split is over, no record."""
        async with self._writing:
            await self._record(restore=restore, made=made, gone=gone, clear=clear)

    async def _record(
        self,
        *,
        restore: EnvChange | None,
        made: Mapping[str, str] | None,
        gone: Iterable[str],
        clear: bool,
    ) -> None:
        obj = await self.read()
        old = SplitRecord.of(obj) or SplitRecord()
        record = None
        if not clear:
            left = set(gone)
            kept = {n: o for n, o in {**old.made, **(made or {})}.items() if n not in left}
            wanted = old.restore if restore is None else restore
            record = SplitRecord(restore={c: dict(v) for c, v in wanted.items()}, made=kept)
        if record == SplitRecord.of(obj) or (record is None and SplitRecord.of(obj) is None):
            return
        try:
            await self.backend.put_resource(recorded(obj, record))
        except (ValueError, OSError) as exc:
            raise WorkloadError(f"cannot record the split on {self.label}: {exc}") from None

    async def wait_ready(self, *, timeout: float, every: float = 0.2) -> None:
        """Return once the pods run the env last set; WorkloadError after ``timeout``."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if await self._ready():
                return
            await asyncio.sleep(every)  # polling the cluster, not synchronising a test
        paused = " (a Rollout that pauses between steps must be promoted)"
        raise WorkloadError(
            f"{self.label}'s pods not ready within {timeout:g} s"
            + (paused if self.kind == "rollout" else "")
        )

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
