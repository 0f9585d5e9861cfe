"""Which fields of a pod spec the node honours, and which it refuses (pure).

The local models (`models.PodSpec` and what it holds) ignore unknown fields, so a manifest
made for a real cluster still loads. But a field that changes what runs (an init container,
a gRPC probe, `hostNetwork`, a `subPath` mount) must not vanish silently: admission
(`runnable`) refuses it with a 422 naming it. A field is accepted when its model has it, or
when it is in `HARMLESS` below: fields that only matter to a scheduler, an image registry or
resource accounting, none of which the one-node, image-less embedded cluster has, and
any field at its zero value (false, empty), which asks for nothing.
"""

from __future__ import annotations

import types
import typing
from typing import Any

from pydantic import BaseModel

from podtap.backends.local.models import PodSpec

# A container's image and resource accounting (there are no images or cgroup limits here).
_CONTAINER = frozenset(
    {
        "image",
        "imagePullPolicy",
        "resources",
        "resizePolicy",
        "terminationMessagePath",
        "terminationMessagePolicy",
    }
)
HARMLESS: dict[str, frozenset[str]] = {
    "PodSpec": frozenset(
        {
            # Scheduling onto the one node: nothing to choose between.
            "affinity",
            "nodeSelector",
            "tolerations",
            "topologySpreadConstraints",
            "schedulerName",
            "priority",
            "priorityClassName",
            "preemptionPolicy",
            "schedulingGates",
            "overhead",
            "os",
            # Images are not pulled; DNS is the cluster's own (ClusterFirst).
            "imagePullSecrets",
            "dnsPolicy",
            # Every container of a pod here shares one PID namespace already.
            "shareProcessNamespace",
            # The node stops containers with its own grace (SIGTERM, then SIGKILL).
            "terminationGracePeriodSeconds",
            # The deprecated alias of serviceAccountName that the API server fills in.
            "serviceAccount",
        }
    ),
    "Container": _CONTAINER,
    "ContainerPort": frozenset(),
    "EphemeralContainer": _CONTAINER,
    # kubelet's own; the only one the node does not run is `grpc` (refused).
    "Probe": frozenset({"terminationGracePeriodSeconds"}),
    "FieldRef": frozenset({"apiVersion"}),
    "ConfigMapVolume": frozenset({"defaultMode"}),
    "SecretVolume": frozenset({"defaultMode"}),
    "ProjectedVolume": frozenset(),
    "KeyToPath": frozenset({"mode"}),
    "DownwardItem": frozenset({"mode"}),
}


def _aliases(model: type[BaseModel]) -> dict[str, type[BaseModel] | None]:
    """Each field's JSON name and the model it holds (in a list or optional), if any."""
    out: dict[str, type[BaseModel] | None] = {}
    for name, info in model.model_fields.items():
        out[info.alias or name] = _inner(info.annotation)
    return out


def _inner(annotation: Any) -> type[BaseModel] | None:
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return annotation
    origin = typing.get_origin(annotation)
    if origin in (list, typing.Union, types.UnionType):
        for arg in typing.get_args(annotation):
            if (found := _inner(arg)) is not None:
                return found
    return None


def _off(value: object) -> bool:
    """A field at its zero value changes nothing (`hostNetwork: false`, `tty: false`, an
    empty list): clients that send protobuf send those of every field."""
    return value is None or value is False or value in ("", [], {})


def unhonoured(raw: object, *, model: type[BaseModel] = PodSpec, at: str = "spec") -> list[str]:
    """The paths (`spec.containers[0].lifecycle`) of the fields in `raw` that neither the
    model nor the harmless list knows."""
    if not isinstance(raw, dict):
        return []
    known, harmless = _aliases(model), HARMLESS.get(model.__name__, frozenset())
    out: list[str] = []
    for key, value in raw.items():
        if key not in known:
            if key not in harmless and not _off(value):
                out.append(f"{at}.{key}")
            continue
        inner = known[key]
        if inner is None:
            continue
        if isinstance(value, list):
            for i, item in enumerate(value):
                out += unhonoured(item, model=inner, at=f"{at}.{key}[{i}]")
        else:
            out += unhonoured(value, model=inner, at=f"{at}.{key}")
    return out
