"""The `pods/NAME/ephemeralcontainers` subresource, as kube-apiserver writes it (pure).

A GET answers the Pod. A PUT or PATCH changes `spec.ephemeralContainers` only: whatever
else the body holds is dropped (the registry keeps the stored pod and takes the list alone),
and the list may only grow: an existing entry may be neither removed nor changed. A new
entry's name must be unique among the pod's containers, and its `targetContainerName` must
name one of them.
"""

from __future__ import annotations

import copy
import json

from podtap.backends.local.kubeapi.resources import ResourceType
from podtap.backends.local.kubeapi.status import Cause, invalid
from podtap.backends.local.kubeapi.store import Obj

SUBRESOURCE = "ephemeralcontainers"
AT = "spec.ephemeralContainers"


def _listed(obj: Obj, field: str) -> list[Obj]:
    return [c for c in (obj.get("spec") or {}).get(field) or [] if isinstance(c, dict)]


def _causes(wanted: list[Obj], old: Obj) -> list[Cause]:
    before = _listed(old, "ephemeralContainers")
    at = {str(c.get("name")): (i, c) for i, c in enumerate(wanted)}
    causes = []
    for c in before:
        had = str(c.get("name"))
        if had not in at:
            msg = f'Forbidden: existing ephemeral containers "{had}" may not be removed'
            causes.append(Cause(AT, "FieldValueForbidden", msg))
        elif json.dumps(at[had][1], sort_keys=True) != json.dumps(c, sort_keys=True):
            msg = f'Forbidden: existing ephemeral containers "{had}" may not be changed'
            causes.append(Cause(f"{AT}[{at[had][0]}]", "FieldValueForbidden", msg))
    regular = {
        str(c.get("name")) for f in ("containers", "initContainers") for c in _listed(old, f)
    }
    seen = set(regular)
    for i, c in enumerate(wanted):
        name, target = c.get("name"), c.get("targetContainerName")
        if not name:
            causes.append(Cause(f"{AT}[{i}].name", "FieldValueRequired", "Required value"))
        elif name in seen:
            causes.append(
                Cause(f"{AT}[{i}].name", "FieldValueDuplicate", f'Duplicate value: "{name}"')
            )
        seen.add(str(name))
        if target and target not in regular:
            causes.append(
                Cause(
                    f"{AT}[{i}].targetContainerName", "FieldValueNotFound", f'Not found: "{target}"'
                )
            )
    return causes


def ephemeral_update(rt: ResourceType, name: str, *, new: Obj, old: Obj) -> Obj:
    """The pod to store for a write of its ephemeralcontainers: `old` with the new list."""
    wanted = _listed(new, "ephemeralContainers")
    if causes := _causes(wanted, old):
        raise invalid(rt, name, causes)
    out = copy.deepcopy(old)
    out.setdefault("spec", {})["ephemeralContainers"] = wanted
    return out


def check_main_update(rt: ResourceType, name: str, *, new: Obj, old: Obj) -> None:
    """A write of the Pod itself may not touch its ephemeral containers (kube-apiserver's pod
    update validation holds the list to the stored one)."""
    if _listed(new, "ephemeralContainers") != _listed(old, "ephemeralContainers"):
        msg = (
            "Forbidden: pod updates may not change spec.ephemeralContainers: "
            f"write them through pods/{name}/{SUBRESOURCE} (kubectl debug)"
        )
        raise invalid(rt, name, [Cause(AT, "FieldValueForbidden", msg)])
