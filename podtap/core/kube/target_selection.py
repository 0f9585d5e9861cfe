"""Which pods and which container a target means, decided from API objects (pod JSON).

A target names a workload (``deployment/api``), a Service, a label selector or a pod; its pods
are those its selector matches, as ``kubectl logs deployment/api`` finds them. A CronJob means
the pods of its newest active Job; an Argo Rollout selects by ``spec.selector`` or, with
``spec.workloadRef``, by the selector of the Deployment it refers to. The container is the one
named, else the pod's ``kubectl.kubernetes.io/default-container``, else its first container
that is not a known sidecar (mirrord skips the same meshes and injectors). No I/O: the
backend reads the objects and calls these.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from typing import Any, TypeVar

from podtap.core.kube.label_selector import matches_label_selector

__all__ = [
    "DEFAULT_CONTAINER",
    "SIDECARS",
    "ContainerChoiceError",
    "active_job_names",
    "choose_container",
    "controller_of",
    "pod_ready",
    "selected_pods",
    "workload_selector",
]

Obj = Mapping[str, Any]
Pod = TypeVar("Pod", bound=Mapping[str, Any])

DEFAULT_CONTAINER = "kubectl.kubernetes.io/default-container"
#: Containers injected next to the app: service meshes, secret injectors, proxies, and the
#: agents of podtap, mirrord and Telepresence. Never chosen unless named.
SIDECARS: frozenset[str] = frozenset(
    {
        "istio-proxy",
        "istio-init",
        "linkerd-proxy",
        "linkerd-init",
        "kuma-sidecar",
        "kuma-init",
        "vault-agent",
        "vault-agent-init",
        "envoy",
        "cloudsql-proxy",
        "traffic-agent",
        "mirrord-agent",
        "podtap-agent",
    }
)


class ContainerChoiceError(LookupError):
    """The named container is not in the pod (the message lists those it has)."""


def pod_ready(pod: Obj) -> bool:
    """Running, not being deleted, and its Ready condition True (what Endpoints count)."""
    status = pod.get("status") or {}
    if status.get("phase") != "Running" or (pod.get("metadata") or {}).get("deletionTimestamp"):
        return False
    return any(
        c.get("type") == "Ready" and c.get("status") == "True"
        for c in status.get("conditions") or ()
    )


def _name(obj: Obj) -> str:
    return str((obj.get("metadata") or {}).get("name", ""))


def controller_of(obj: Obj) -> tuple[str, str] | None:
    """(kind, name) of the owner reference marked ``controller: true``."""
    for ref in (obj.get("metadata") or {}).get("ownerReferences") or ():
        if ref.get("controller"):
            return str(ref.get("kind")), str(ref.get("name"))
    return None


def active_job_names(cronjob: Obj, jobs: Iterable[Obj]) -> list[str]:
    """The CronJob's unfinished Jobs, newest first (by creation, then name): those it lists
    in ``status.active`` and those it controls without a Complete or Failed condition."""
    listed = {str(r.get("name")) for r in (cronjob.get("status") or {}).get("active") or ()}
    found = []
    for job in jobs:
        owned = controller_of(job) == ("CronJob", _name(cronjob))
        finished = any(
            c.get("type") in ("Complete", "Failed") and c.get("status") == "True"
            for c in (job.get("status") or {}).get("conditions") or ()
        )
        if (owned or _name(job) in listed) and not finished:
            found.append(job)
    found.sort(
        key=lambda j: (str((j.get("metadata") or {}).get("creationTimestamp", "")), _name(j)),
        reverse=True,
    )
    return [_name(j) for j in found]


def workload_selector(kind: str, obj: Obj, *, deployment: Obj | None = None) -> Obj | None:
    """The structured label selector (``matchLabels``/``matchExpressions``) of a workload;
    a Service's plain map becomes ``matchLabels``. None selects nothing (a Service without a
    selector, a Rollout whose workloadRef is missing)."""
    spec = obj.get("spec") or {}
    if kind == "service":
        plain = spec.get("selector") or {}
        return {"matchLabels": dict(plain)} if plain else None
    if kind == "rollout" and spec.get("workloadRef") and not spec.get("selector"):
        if deployment is None:
            return None
        return workload_selector("deployment", deployment)
    selector: Obj | None = spec.get("selector")
    return selector


def selected_pods(selector: Obj | None, pods: Iterable[Pod]) -> list[Pod]:
    """The pods `selector` matches, by name (the order "the first ready pod" follows)."""
    if selector is None:
        return []
    chosen = [
        p
        for p in pods
        if matches_label_selector(selector, (p.get("metadata") or {}).get("labels") or {})
    ]
    return sorted(chosen, key=_name)


def choose_container(pod: Obj, wanted: str | None) -> str:
    """The container to use: `wanted`, else the default-container annotation, else the first
    one that is not a sidecar (else the first). Raises :class:`ContainerChoiceError`."""
    containers = (pod.get("spec") or {}).get("containers") or ()
    names: Sequence[str] = [str(c.get("name")) for c in containers]
    if wanted is not None:
        if wanted not in names:
            raise ContainerChoiceError(
                f"pod {_name(pod)} has no container {wanted!r} (it has {', '.join(names)})"
            )
        return wanted
    annotated = ((pod.get("metadata") or {}).get("annotations") or {}).get(DEFAULT_CONTAINER)
    if annotated in names:
        return str(annotated)
    return next((n for n in names if n not in SIDECARS), names[0])
