"""A Deployment's rolling update, decided (pure): its ReplicaSets in, their sizes out.

As the deployment controller does it: the ReplicaSet whose template is the Deployment's is
the new one, every other one it owns is old. Each pass grows the new set while the pods of
all sets stay within `replicas + maxSurge`, and shrinks the old ones (unavailable pods first)
while at least `replicas - maxUnavailable` pods stay available — both 25 % by default,
surge rounded up and unavailability down, so one replica is replaced by starting its
successor first. Passes repeat as pods become ready, so the rollout goes one step at a time.
Old sets scaled to zero stay as the rollout history (`kubectl rollout undo` reads them),
the oldest beyond `revisionHistoryLimit` are deleted.
"""

from __future__ import annotations

import copy
import hashlib
import json
import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

HASH_LABEL = "pod-template-hash"
REVISION = "deployment.kubernetes.io/revision"
DEFAULT_SURGE = DEFAULT_UNAVAILABLE = "25%"
DEFAULT_HISTORY = 10


def template_hash(template: dict[str, Any]) -> str:
    """The pod-template-hash of a template (its own hash label left out, as undo drops it)."""
    bare = copy.deepcopy(template)
    labels = (bare.get("metadata") or {}).get("labels") or {}
    labels.pop(HASH_LABEL, None)
    text = json.dumps(_pruned(bare), sort_keys=True)
    return hashlib.sha256(text.encode()).hexdigest()[:10]


def _pruned(value: Any) -> Any:
    """Empty maps and lists dropped: a client's Go structs send `resources: {}` where the
    stored template had nothing (undo's template must hash as the set it came from)."""
    if isinstance(value, dict):
        items = {k: _pruned(v) for k, v in value.items()}
        return {k: v for k, v in items.items() if v not in ({}, [], None)}
    if isinstance(value, list):
        return [_pruned(v) for v in value]
    return value


def resolve(value: int | str | None, *, total: int, default: str, round_up: bool) -> int:
    """An int-or-percent of `total` (`maxSurge` rounds up, `maxUnavailable` down)."""
    if value is None:
        value = default
    if isinstance(value, int):
        return value
    share = total * int(value.rstrip("%")) / 100
    return math.ceil(share) if round_up else math.floor(share)


@dataclass(frozen=True, slots=True)
class Set:
    """One ReplicaSet: its name, revision, wanted size and pods now."""

    name: str
    revision: int
    replicas: int
    pods: int
    available: int


@dataclass(frozen=True, slots=True)
class Strategy:
    recreate: bool = False
    max_surge: int | str | None = None
    max_unavailable: int | str | None = None


def strategy_of(spec: dict[str, Any]) -> Strategy:
    raw = spec.get("strategy") or {}
    rolling = raw.get("rollingUpdate") or {}
    return Strategy(
        recreate=raw.get("type") == "Recreate",
        max_surge=rolling.get("maxSurge"),
        max_unavailable=rolling.get("maxUnavailable"),
    )


def sizes(*, desired: int, strategy: Strategy, new: Set, old: Sequence[Set]) -> dict[str, int]:
    """The size each ReplicaSet should have after this pass."""
    out = {s.name: s.replicas for s in (new, *old)}
    if strategy.recreate:
        for s in old:
            out[s.name] = 0
        if not any(s.pods for s in old):
            out[new.name] = desired
        return out
    surge = resolve(strategy.max_surge, total=desired, default=DEFAULT_SURGE, round_up=True)
    down = resolve(
        strategy.max_unavailable, total=desired, default=DEFAULT_UNAVAILABLE, round_up=False
    )
    if surge == down == 0:
        down = 1
    total = new.replicas + sum(s.replicas for s in old)
    if new.replicas > desired:
        out[new.name] = desired
    else:
        out[new.name] = min(desired, new.replicas + max(0, desired + surge - total))
    min_available = desired - down
    # Unavailable old pods go first: removing them costs no availability.
    cleanup = max(0, total - min_available - (new.replicas - new.available))
    for s in sorted(old, key=lambda s: s.revision):
        unhealthy = min(max(0, s.replicas - s.available), cleanup)
        out[s.name] -= unhealthy
        cleanup -= unhealthy
    budget = max(0, new.available + sum(s.available for s in old) - min_available)
    for s in sorted(old, key=lambda s: s.revision):
        step = min(out[s.name], budget)
        out[s.name] -= step
        budget -= step
    return out


def expired(old: Sequence[Set], *, limit: int | None) -> list[str]:
    """Old, empty ReplicaSets beyond the history limit, oldest first."""
    keep = DEFAULT_HISTORY if limit is None else limit
    empty = sorted((s for s in old if s.replicas == 0 and s.pods == 0), key=lambda s: s.revision)
    return [s.name for s in empty[: max(0, len(empty) - keep)]]


def replica_set(
    deployment: dict[str, Any], *, uid: str, hash_: str, revision: int
) -> dict[str, Any]:
    """The ReplicaSet a Deployment makes for its current template (size 0: `sizes` grows it)."""
    meta, spec = deployment["metadata"], deployment.get("spec") or {}
    template = copy.deepcopy(spec["template"])
    tmeta = template.setdefault("metadata", {})
    tmeta["labels"] = {**(tmeta.get("labels") or {}), HASH_LABEL: hash_}
    selector = copy.deepcopy(spec.get("selector") or {})
    selector["matchLabels"] = {**(selector.get("matchLabels") or {}), HASH_LABEL: hash_}
    annotations = {
        k: v
        for k, v in (meta.get("annotations") or {}).items()
        if k == "kubernetes.io/change-cause"
    }
    annotations[REVISION] = str(revision)
    return {
        "apiVersion": "apps/v1",
        "kind": "ReplicaSet",
        "metadata": {
            "name": f"{meta['name']}-{hash_}",
            "namespace": meta.get("namespace", "default"),
            "labels": tmeta["labels"],
            "annotations": annotations,
            "ownerReferences": [
                {
                    "apiVersion": "apps/v1",
                    "kind": "Deployment",
                    "name": meta["name"],
                    "uid": uid,
                    "controller": True,
                    "blockOwnerDeletion": True,
                }
            ],
        },
        "spec": {
            "replicas": 0,
            "minReadySeconds": spec.get("minReadySeconds", 0),
            "selector": selector,
            "template": template,
        },
    }
