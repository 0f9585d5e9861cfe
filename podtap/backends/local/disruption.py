"""The disruption controller: each PodDisruptionBudget's status, as kube-controller-manager's.

`disruption_status` decides (pure): the budget's pods are the namespace's pods its selector
matches, not being deleted (`{}` matches all of them, a missing selector none); a pod is
healthy when Ready. `minAvailable` as a number wants that many healthy of the pods there are;
`maxUnavailable`, or `minAvailable` as a percentage, is reckoned against the replicas the
pods' controllers want (a Deployment through its ReplicaSet, a StatefulSet, a ReplicaSet),
percentages rounded up. `disruptionsAllowed` is what is healthy beyond what is desired (none
while no pod is expected), and the `DisruptionAllowed` condition says why, with upstream's
reasons. `report` writes the statuses that changed (what `kubectl get pdb` shows).
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any

from podtap.backends.local.objects import ApiObjects
from podtap.backends.local.podstatus import timed_conditions
from podtap.core.kube.label_selector import matches_label_selector
from podtap.core.kube.selectors import SelectorError

Obj = dict[str, Any]
Scale = Callable[[str, str, str], int | None]
"""scale(kind, namespace, name) -> the replicas a pod's controller wants, or None."""


def _ready(pod: Obj) -> bool:
    conditions = (pod.get("status") or {}).get("conditions") or []
    return any(c.get("type") == "Ready" and c.get("status") == "True" for c in conditions)


def _scaled(value: int | str, total: int) -> int:
    """`GetScaledValueFromIntOrPercent`, rounding up."""
    if isinstance(value, int):
        return value
    return math.ceil(int(value.rstrip("%")) * total / 100)


def _controller(pod: Obj) -> tuple[str, str] | None:
    for ref in pod["metadata"].get("ownerReferences") or ():
        if ref.get("controller"):
            return str(ref.get("kind")), str(ref.get("name"))
    return None


def expected_scale(pods: list[Obj], *, namespace: str, scale: Scale) -> int | None:
    """The replicas the pods' controllers want, each counted once (None: a pod has none)."""
    seen: dict[tuple[str, str], int] = {}
    for pod in pods:
        ref = _controller(pod)
        wanted = None if ref is None else scale(ref[0], namespace, ref[1])
        if ref is None or wanted is None:
            return None
        seen[ref] = wanted
    return sum(seen.values())


def budget_pods(pdb: Obj, pods: list[Obj]) -> list[Obj]:
    """The pods the budget covers: its namespace's, by its selector, not being deleted."""
    selector = (pdb.get("spec") or {}).get("selector")
    try:
        return [
            p
            for p in pods
            if not p["metadata"].get("deletionTimestamp")
            and matches_label_selector(selector, p["metadata"].get("labels") or {})
        ]
    except SelectorError:
        return []


def disruption_status(pdb: Obj, pods: list[Obj], *, scale: Scale, old: Obj, now: str) -> Obj:
    """The budget's status from its pods (`pods`: those `budget_pods` chose)."""
    spec = pdb.get("spec") or {}
    namespace = str(pdb["metadata"].get("namespace", ""))
    healthy = sum(_ready(p) for p in pods)
    expected, desired, failed = 0, 0, False
    if spec.get("maxUnavailable") is not None or isinstance(spec.get("minAvailable"), str):
        found = expected_scale(pods, namespace=namespace, scale=scale)
        failed = found is None
        expected = found or 0
        if spec.get("maxUnavailable") is not None:
            desired = max(expected - _scaled(spec["maxUnavailable"], expected), 0)
        else:
            desired = _scaled(spec["minAvailable"], expected)
    elif spec.get("minAvailable") is not None:
        expected, desired = len(pods), int(spec["minAvailable"])
    allowed = 0 if failed or expected <= 0 else max(healthy - desired, 0)
    reason = "SyncFailed" if failed else ("SufficientPods" if allowed else "InsufficientPods")
    conditions = timed_conditions(
        old.get("conditions") or [], [("DisruptionAllowed", allowed > 0, reason)], now
    )
    conditions[0].update(message="", observedGeneration=int(pdb["metadata"].get("generation", 1)))
    return {
        "observedGeneration": int(pdb["metadata"].get("generation", 1)),
        "disruptionsAllowed": allowed,
        "currentHealthy": healthy,
        "desiredHealthy": desired,
        "expectedPods": expected,
        "conditions": conditions,
    }


def _scale_of(objects: ApiObjects) -> Scale:
    def scale(kind: str, namespace: str, name: str) -> int | None:
        obj = objects.raw(kind, namespace, name)
        if obj is None:
            return None
        if kind == "ReplicaSet":  # one of a Deployment: the Deployment's replicas
            owner = _controller(obj)
            if owner is not None and owner[0] == "Deployment":
                return scale("Deployment", namespace, owner[1])
        if kind not in ("ReplicaSet", "Deployment", "StatefulSet", "ReplicationController"):
            return None
        return int((obj.get("spec") or {}).get("replicas", 1))

    return scale


def report(objects: ApiObjects, *, now: str) -> None:
    """Write each budget's status where it changed."""
    rt = objects.type_of("PodDisruptionBudget", "policy/v1")
    pods_rt = objects.type_of("Pod")
    if rt is None or pods_rt is None:
        return
    scale = _scale_of(objects)
    for pdb in objects.raw_items(rt):
        namespace = str(pdb["metadata"].get("namespace", ""))
        pods = budget_pods(pdb, objects.raw_items(pods_rt, namespace))
        old = pdb.get("status") or {}
        status = disruption_status(pdb, pods, scale=scale, old=old, now=now)
        if status != old:
            objects.put(rt, {**pdb, "status": status})
