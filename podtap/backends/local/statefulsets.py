"""A StatefulSet's rollout, decided (pure): the set, its revisions and pods in, actions out.

As kube-controller-manager's statefulset controller does it. Each template is kept in a
ControllerRevision `<set>-<hash>` whose `data` is the patch that puts it back
(`{"spec": {"template": {..., "$patch": "replace"}}}`, which `kubectl rollout undo`
applies) and whose `revision` numbers the history; a template equal to an older revision's
brings that one back with the next number. Pods are `<set>-<ordinal>`, labelled with their
revision's name. `OrderedReady` creates ordinal N only once N-1 is Running and Ready and
removes the highest first, one at a time; `Parallel` does not wait. A `RollingUpdate`
deletes, from the highest ordinal down to `partition`, one pod not at the update revision
once every pod above it is healthy (the creation step makes it again at the new one);
`OnDelete` only recreates pods someone deleted. Waiting for a pod means waiting until it is
available: Ready for `minReadySeconds`. The status counts pods per revision, and
`currentRevision` becomes the update revision once every pod is updated and ready.
"""

from __future__ import annotations

import copy
import json
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from podtap.backends.local.rollout import template_hash

Obj = dict[str, Any]
REVISION_LABEL = "controller-revision-hash"
HASH_LABEL = "controller.kubernetes.io/hash"
INDEX_LABEL = "apps.kubernetes.io/pod-index"
POD_NAME_LABEL = "statefulset.kubernetes.io/pod-name"
DEFAULT_HISTORY = 10
_SAFE = "bcdfghjklmnpqrstvwxz2456789"  # apimachinery's rand.SafeEncodeString alphabet


def _unset(obj: Obj, key: str, value: Any) -> Any:
    if obj.get(key) is None:
        obj[key] = value
    return obj[key]


def default(kind: str, obj: Obj) -> None:
    """kube-apiserver's SetDefaults_StatefulSet (apps/v1, v1.37 feature gates), as an
    admission check: it runs on every create and update of a StatefulSet."""
    spec = obj.get("spec")
    if kind != "StatefulSet" or not isinstance(spec, dict):
        return
    _unset(spec, "podManagementPolicy", "OrderedReady")
    strategy = _unset(spec, "updateStrategy", {})
    if not strategy.get("type"):
        strategy["type"] = "RollingUpdate"
        _unset(strategy, "rollingUpdate", {})
    rolling = strategy.get("rollingUpdate")
    if strategy["type"] == "RollingUpdate" and isinstance(rolling, dict):
        _unset(rolling, "partition", 0)
        _unset(rolling, "maxUnavailable", 1)  # MaxUnavailableStatefulSet: beta, on
    retention = _unset(spec, "persistentVolumeClaimRetentionPolicy", {})  # GA since 1.32
    _unset(retention, "whenDeleted", "Retain")
    _unset(retention, "whenScaled", "Retain")
    _unset(spec, "replicas", 1)
    _unset(spec, "revisionHistoryLimit", DEFAULT_HISTORY)


def _fnv32(data: bytes) -> int:
    """FNV-1 32 (Go's hash/fnv New32), which HashControllerRevision uses."""
    h = 0x811C9DC5
    for byte in data:
        h = (h * 0x01000193) & 0xFFFFFFFF
        h ^= byte
    return h


def revision_hash(data: Obj, *, collisions: int) -> str:
    raw = json.dumps(data, separators=(",", ":")).encode() + str(collisions).encode()
    return "".join(_SAFE[ord(c) % len(_SAFE)] for c in str(_fnv32(raw)))


def revision_data(sts: Obj) -> Obj:
    """The patch a revision keeps: the set's template, replacing whatever is there."""
    template = copy.deepcopy(sts["spec"]["template"])
    template["$patch"] = "replace"
    return {"spec": {"template": template}}


def template_of(data: Obj) -> Obj:
    """The pod template a revision's `data` holds."""
    template = copy.deepcopy(((data or {}).get("spec") or {}).get("template") or {})
    template.pop("$patch", None)
    return template


@dataclass(frozen=True, slots=True)
class Revision:
    """One ControllerRevision: its name, number and the hash of its template."""

    name: str
    number: int
    key: str


def revision_view(cr: Obj) -> Revision:
    key = template_hash(template_of(cr.get("data") or {}))
    return Revision(cr["metadata"]["name"], int(cr.get("revision") or 0), key)


@dataclass(frozen=True, slots=True)
class Revisions:
    """The set's current and update revisions, and what to write to have them."""

    current: str
    update: str
    collisions: int
    create: Obj | None = None  # a new ControllerRevision
    renumber: tuple[str, int] | None = None  # an older equal revision, brought back


def resolve(sts: Obj, revisions: Sequence[Revision]) -> Revisions:
    meta, status = sts["metadata"], sts.get("status") or {}
    collisions = int(status.get("collisionCount") or 0)
    top = max((r.number for r in revisions), default=0)
    key = template_hash(sts["spec"]["template"])
    equal = sorted((r for r in revisions if r.key == key), key=lambda r: r.number)
    create, renumber = None, None
    if equal:
        update = equal[-1].name
        if equal[-1].number < top:
            renumber = (update, top + 1)
    else:
        names = {r.name for r in revisions}
        data = revision_data(sts)
        while (update := f"{meta['name']}-{revision_hash(data, collisions=collisions)}") in names:
            collisions += 1
        create = controller_revision(sts, name=update, data=data, number=top + 1)
    known = {r.name for r in revisions}
    current = status.get("currentRevision")
    if current not in known:
        current = update
    return Revisions(str(current), update, collisions, create, renumber)


def _owner(sts: Obj) -> Obj:
    return {
        "apiVersion": "apps/v1",
        "kind": "StatefulSet",
        "name": sts["metadata"]["name"],
        "uid": sts["metadata"]["uid"],
        "controller": True,
        "blockOwnerDeletion": True,
    }


def controller_revision(sts: Obj, *, name: str, data: Obj, number: int) -> Obj:
    meta = sts["metadata"]
    labels = dict((sts["spec"]["template"].get("metadata") or {}).get("labels") or {})
    labels[HASH_LABEL] = name.rsplit("-", 1)[1]
    return {
        "apiVersion": "apps/v1",
        "kind": "ControllerRevision",
        "metadata": {
            "name": name,
            "namespace": meta.get("namespace", "default"),
            "labels": labels,
            "annotations": dict(meta.get("annotations") or {}),
            "ownerReferences": [_owner(sts)],
        },
        "data": data,
        "revision": number,
    }


def pod_body(sts: Obj, *, ordinal: int, revision: str, template: Obj, node: str) -> Obj:
    """The Pod `<set>-<ordinal>` made from one revision's template."""
    meta, spec = sts["metadata"], sts.get("spec") or {}
    name = f"{meta['name']}-{ordinal}"
    tmeta = template.get("metadata") or {}
    labels = {
        **(tmeta.get("labels") or {}),
        POD_NAME_LABEL: name,
        INDEX_LABEL: str(ordinal),
        REVISION_LABEL: revision,
    }
    pod_spec = copy.deepcopy(template.get("spec") or {})
    pod_spec.setdefault("hostname", name)
    if spec.get("serviceName"):
        pod_spec.setdefault("subdomain", spec["serviceName"])
    pod_spec["nodeName"] = node
    body: Obj = {"name": name, "namespace": meta.get("namespace", "default"), "labels": labels}
    if tmeta.get("annotations"):
        body["annotations"] = dict(tmeta["annotations"])
    body["ownerReferences"] = [_owner(sts)]
    return {"apiVersion": "v1", "kind": "Pod", "metadata": body, "spec": pod_spec}


@dataclass(frozen=True, slots=True)
class Member:
    """One pod of the set as the controller sees it."""

    name: str
    ordinal: int
    revision: str
    ready: bool = False  # Running and Ready
    ready_for: float = float("inf")  # seconds it has been Ready
    finished: bool = False  # Succeeded or Failed: replaced
    terminating: bool = False


@dataclass(frozen=True, slots=True)
class Step:
    create: list[tuple[int, str]] = field(default_factory=list)  # ordinal, revision
    delete: list[str] = field(default_factory=list)


@dataclass(frozen=True, slots=True)
class Policy:
    replicas: int
    ordered: bool = True  # OrderedReady (else Parallel)
    rolling: bool = True  # RollingUpdate (else OnDelete)
    partition: int = 0
    min_ready: float = 0  # minReadySeconds: Ready this long is available


def available(pod: Member, policy: Policy) -> bool:
    return pod.ready and pod.ready_for >= policy.min_ready


def policy_of(sts: Obj) -> Policy:
    spec = sts.get("spec") or {}
    strategy = spec.get("updateStrategy") or {}
    rolling = strategy.get("type", "RollingUpdate") == "RollingUpdate"
    return Policy(
        replicas=int(spec.get("replicas", 1)),
        ordered=spec.get("podManagementPolicy", "OrderedReady") != "Parallel",
        rolling=rolling,
        partition=int((strategy.get("rollingUpdate") or {}).get("partition") or 0),
        min_ready=int(spec.get("minReadySeconds") or 0),
    )


def decide(policy: Policy, *, revisions: Revisions, pods: Sequence[Member]) -> Step:
    """This pass's pod creations and deletions (statefulset_control's updateStatefulSet)."""
    step = Step()
    by_ordinal = {p.ordinal: p for p in pods}
    for ordinal in range(policy.replicas):
        pod = by_ordinal.get(ordinal)
        if pod is not None and pod.finished and not pod.terminating:
            step.delete.append(pod.name)  # made again on the next pass
        elif pod is None:
            old = policy.rolling and ordinal < policy.partition
            step.create.append((ordinal, revisions.current if old else revisions.update))
        elif not (policy.ordered and (pod.terminating or not available(pod, policy))):
            continue
        if policy.ordered:
            return step
    condemned = sorted(
        (p for p in pods if not 0 <= p.ordinal < policy.replicas),
        key=lambda p: p.ordinal,
        reverse=True,
    )
    for pod in condemned:
        if not pod.terminating:
            step.delete.append(pod.name)
        if policy.ordered:
            return step
    if not policy.rolling:
        return step
    for ordinal in range(policy.replicas - 1, max(policy.partition, 0) - 1, -1):
        pod = by_ordinal.get(ordinal)
        if pod is None or pod.finished:
            return step
        if pod.revision != revisions.update and not pod.terminating:
            step.delete.append(pod.name)
            return step
        if pod.terminating or not available(pod, policy):
            return step
    return step


def status(sts: Obj, *, revisions: Revisions, pods: Sequence[Member]) -> Obj:
    """The set's status as the controller writes it (updateStatus, completeRollingUpdate)."""
    live = [p for p in pods if not p.terminating]
    replicas, ready = len(pods), sum(p.ready for p in pods)
    current_n = sum(p.revision == revisions.current for p in live)
    updated = sum(p.revision == revisions.update for p in live)
    current = revisions.current
    if policy_of(sts).rolling and updated == replicas == ready:
        current, current_n = revisions.update, updated
    free = sum(available(p, policy_of(sts)) for p in pods)
    counts = {"readyReplicas": ready, "currentReplicas": current_n, "updatedReplicas": updated}
    return {
        "observedGeneration": int(sts["metadata"].get("generation", 1)),
        "replicas": replicas,
        **{k: v for k, v in counts.items() if v},
        "currentRevision": current,
        "updateRevision": revisions.update,
        "collisionCount": revisions.collisions,
        "availableReplicas": free,
    }


def expired(revisions: Sequence[Revision], *, live: set[str], limit: int | None) -> list[str]:
    """Revisions no pod, nor the current or update revision, uses, beyond the history
    limit: oldest first (truncateHistory)."""
    keep = DEFAULT_HISTORY if limit is None else limit
    history = sorted((r for r in revisions if r.name not in live), key=lambda r: r.number)
    return [r.name for r in history[: max(0, len(history) - keep)]]
