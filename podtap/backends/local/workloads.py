"""Deciding which pods should exist (pure): workloads in, pod plans out."""

from __future__ import annotations

import hashlib
import json
import secrets
from collections.abc import Iterable
from dataclasses import dataclass

from podtap.backends.local.manifests import Deployment, Pod, StatefulSet
from podtap.backends.local.models import PodTemplate, TemplateMeta
from podtap.backends.local.pod import PodPlan
from podtap.backends.local.store import Stored
from podtap.backends.local.workload_models import DaemonSet, ReplicaSet


def template_hash(template: PodTemplate) -> str:
    text = json.dumps(template.model_dump(mode="json"), sort_keys=True)
    return hashlib.sha256(text.encode()).hexdigest()[:10]


@dataclass(frozen=True, slots=True)
class Existing:
    """What the controller knows of a pod that exists now."""

    namespace: str
    name: str
    owner: str | None
    template_hash: str
    finished: bool
    ready: bool = False


@dataclass(frozen=True, slots=True)
class Changes:
    create: list[PodPlan]
    delete: list[tuple[str, str]]


def _random_suffix() -> str:
    alphabet = "bcdfghjklmnpqrstvwxz2456789"
    return "".join(secrets.choice(alphabet) for _ in range(5))


def plan(objects: Iterable[Stored], existing: Iterable[Existing]) -> Changes:
    """Compare workloads with existing pods: which pods to create and which to delete."""
    by_owner: dict[str | None, list[Existing]] = {}
    for e in existing:
        by_owner.setdefault(e.owner, []).append(e)
    create: list[PodPlan] = []
    delete: list[tuple[str, str]] = []
    wanted_owners: set[str] = set()
    bare = {(e.namespace, e.name): e for e in by_owner.get(None, [])}
    wanted_bare: set[tuple[str, str]] = set()
    for stored in objects:
        model, meta = stored.model, stored.model.metadata  # type: ignore[attr-defined]
        ns = meta.namespace or "default"
        if isinstance(model, Pod):
            h = template_hash(
                PodTemplate(metadata=TemplateMeta(labels=meta.labels), spec=model.spec)
            )
            wanted_bare.add((ns, meta.name))
            old = bare.get((ns, meta.name))
            if old is not None and old.template_hash == h:
                continue
            if old is not None:
                delete.append((ns, meta.name))
            create.append(PodPlan(ns, meta.name, meta.labels, None, model.spec, h, meta.name, None))
        elif isinstance(model, Deployment | StatefulSet):
            owner = f"{type(model).__name__}/{ns}/{meta.name}"
            wanted_owners.add(owner)
            spec = model.spec
            h = template_hash(spec.template)
            pods = by_owner.get(owner, [])
            current = [p for p in pods if p.template_hash == h]
            delete += [(p.namespace, p.name) for p in pods if p.template_hash != h]
            labels = spec.template.metadata.labels
            if isinstance(model, StatefulSet):
                delete += [(p.namespace, p.name) for p in current if p.finished]
                have = {p.name for p in current if not p.finished}
                for i in range(spec.replicas):
                    name = f"{meta.name}-{i}"
                    if name not in have:
                        create.append(
                            PodPlan(
                                ns,
                                name,
                                labels,
                                owner,
                                spec.template.spec,
                                h,
                                name,
                                spec.service_name,
                            )
                        )
                delete += [
                    (p.namespace, p.name)
                    for p in current
                    if int(p.name.rsplit("-", 1)[1]) >= spec.replicas
                ]
            else:
                alive = [p for p in current if not p.finished]
                delete += [(p.namespace, p.name) for p in current if p.finished]
                delete += [(p.namespace, p.name) for p in alive[spec.replicas :]]
                for _ in range(spec.replicas - len(alive)):
                    name = f"{meta.name}-{h[:8]}-{_random_suffix()}"
                    create.append(
                        PodPlan(ns, name, labels, owner, spec.template.spec, h, name, None)
                    )
        elif isinstance(model, ReplicaSet | DaemonSet):
            owner = f"{type(model).__name__}/{ns}/{meta.name}"
            wanted_owners.add(owner)
            replicas = model.spec.replicas if isinstance(model, ReplicaSet) else 1
            create_, delete_ = _replicated(owner, ns, meta.name, model, replicas, by_owner)
            create += create_
            delete += delete_
    for pod_owner, pods in by_owner.items():
        if pod_owner is None:
            delete += [k for k in bare if k not in wanted_bare]
        elif pod_owner not in wanted_owners and not pod_owner.startswith("Run/"):
            delete += [(p.namespace, p.name) for p in pods]
    return Changes(create, delete)


def _replicated(
    owner: str,
    ns: str,
    name: str,
    model: ReplicaSet | DaemonSet,
    replicas: int,
    by_owner: dict[str | None, list[Existing]],
) -> tuple[list[PodPlan], list[tuple[str, str]]]:
    """A ReplicaSet's (or the one node's DaemonSet's) pods: `replicas` of its template,
    unready ones deleted first when there are too many."""
    template = model.spec.template
    h = template_hash(template)
    pods = by_owner.get(owner, [])
    delete = [(p.namespace, p.name) for p in pods if p.template_hash != h or p.finished]
    alive = sorted(
        (p for p in pods if p.template_hash == h and not p.finished), key=lambda p: p.ready
    )
    extra = len(alive) - replicas
    delete += [(p.namespace, p.name) for p in alive[: max(0, extra)]]
    labels = template.metadata.labels
    create = []
    for _ in range(replicas - len(alive)):
        pod = f"{name}-{_random_suffix()}"
        create.append(PodPlan(ns, pod, labels, owner, template.spec, h, pod, None))
    return create, delete
