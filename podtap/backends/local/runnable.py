"""Admission by the node: a workload it cannot run is refused when written, not left idle.

kube-apiserver's schema admission accepts a Deployment of `image: nginx` and nothing else;
the embedded cluster runs commands, not images, so such a pod could never start. Rather than
store it and show nothing (or a pod Pending for ever), the API refuses it with a 422 naming
the field, as a real server refuses what its admission plugins do not allow. The same goes
for a field the node would not honour (`podfields`: an init container, `hostNetwork`, ...)
and a `nodeName` other than the node's. The rules are the local models' (`models.PodSpec`),
applied to the pod spec of every kind whose pods the node runs; metadata rules are left to
the API's own (which allows more names than a pod's DNS label).
"""

from __future__ import annotations

from typing import Any

from pydantic import ValidationError

from podtap.backends.local.kubeapi.resources import BUILTINS
from podtap.backends.local.kubeapi.status import Cause, invalid
from podtap.backends.local.manifests import KINDS
from podtap.backends.local.models import PodSpec
from podtap.backends.local.podconfig import NODE_NAME
from podtap.backends.local.podfields import unhonoured
from podtap.backends.local.workload_models import MODELS
from podtap.core.field_path import field_path

# Where each kind keeps the pod spec the node runs.
POD_SPEC_AT: dict[str, tuple[str, ...]] = {
    "Pod": ("spec",),
    "Deployment": ("spec", "template", "spec"),
    "ReplicaSet": ("spec", "template", "spec"),
    "StatefulSet": ("spec", "template", "spec"),
    "DaemonSet": ("spec", "template", "spec"),
    "Job": ("spec", "template", "spec"),
    "CronJob": ("spec", "jobTemplate", "spec", "template", "spec"),
}
RUN_KINDS = tuple(POD_SPEC_AT)


def _pod_spec(obj: dict[str, Any], path: tuple[str, ...]) -> object:
    found: object = obj
    for part in path:
        found = found.get(part) if isinstance(found, dict) else None
    return found


def _model_causes(kind: str, obj: dict[str, Any], raw: object, *, at: str) -> list[Cause]:
    """The local model's errors: the whole object's for a kind it has (a Deployment's
    selector too), else the pod spec's."""
    model = KINDS.get(kind) or MODELS.get(kind)
    try:
        if model is not None:
            model.model_validate(obj)
        else:
            PodSpec.model_validate(raw)
    except ValidationError as exc:
        prefix = () if model is not None else tuple(at.split("."))
        return [
            Cause(
                field_path((*prefix, *e["loc"])) or "spec",
                "FieldValueInvalid",
                f"Invalid value: the embedded cluster cannot run this: "
                f"{str(e['msg']).removeprefix('Value error, ')}",
            )
            for e in exc.errors()
            if not e["loc"] or e["loc"][0] != "metadata"
        ]
    return []


def pod_spec_causes(kind: str, obj: dict[str, Any]) -> list[Cause]:
    """What the node cannot run in the pod spec of `obj` (a `kind`)."""
    path = POD_SPEC_AT[kind]
    at, raw = ".".join(path), _pod_spec(obj, path)
    if not isinstance(raw, dict):
        return [Cause(at, "FieldValueRequired", "Required value: a pod spec")]
    causes = [
        Cause(
            field,
            "FieldValueForbidden",
            "Forbidden: the embedded cluster cannot honour this field; remove it "
            "(podtap local runs pods as local processes)",
        )
        for field in unhonoured(raw, at=at)
    ]
    node = raw.get("nodeName")
    if node not in (None, "", NODE_NAME):
        causes.append(
            Cause(
                f"{at}.nodeName",
                "FieldValueInvalid",
                f"Invalid value: {node!r}: the embedded cluster has one node, {NODE_NAME!r}: "
                "use that name or leave nodeName out",
            )
        )
    return causes + _model_causes(kind, obj, raw, at=at)


def check_runnable(kind: str, obj: dict[str, Any]) -> None:
    """Raise the 422 Invalid a pod (or a workload's pod template) the node cannot run earns."""
    if kind not in POD_SPEC_AT:
        return
    if causes := pod_spec_causes(kind, obj):
        rt = next(r for r in BUILTINS if r.kind == kind)
        name = str((obj.get("metadata") or {}).get("name", ""))
        raise invalid(rt, name, causes) from None


def default_pod(kind: str, obj: dict[str, Any]) -> None:
    """kube-apiserver's default of a Pod's `spec.securityContext` (`{}`), which clients read
    without checking (kubectl debug dereferences it)."""
    spec = obj.get("spec")
    if kind == "Pod" and isinstance(spec, dict) and spec.get("securityContext") is None:
        spec["securityContext"] = {}
