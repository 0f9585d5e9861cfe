"""The `scale` subresource: an `autoscaling/v1` Scale view of a workload's replicas.

`kubectl scale` and the HPA never write a Deployment: they read and patch its Scale
(`{"spec": {"replicas": N}}` as a merge patch), which the server maps onto the object's
`spec.replicas` and reports from its status and selector. The write goes through the
ordinary update of the main object, so generation and managedFields (with subresource
`scale`) follow as for any spec change.
"""

from __future__ import annotations

from dataclasses import replace

from podtap.backends.local.kubeapi import verbs
from podtap.backends.local.kubeapi.context import ApiContext
from podtap.backends.local.kubeapi.routes import Target
from podtap.backends.local.kubeapi.status import Cause, invalid
from podtap.backends.local.kubeapi.store import Obj
from podtap.core.kube.label_selector import from_label_selector


def of(obj: Obj) -> Obj:
    """The Scale of a workload object."""
    meta = obj["metadata"]
    selector = (obj.get("spec") or {}).get("selector")
    shown = {k: meta[k] for k in ("name", "namespace", "uid", "resourceVersion") if k in meta}
    shown["creationTimestamp"] = meta.get("creationTimestamp")
    status: Obj = {"replicas": int((obj.get("status") or {}).get("replicas") or 0)}
    if isinstance(selector, dict):
        status["selector"] = str(from_label_selector(selector))
    return {
        "kind": "Scale",
        "apiVersion": "autoscaling/v1",
        "metadata": shown,
        "spec": {"replicas": int((obj.get("spec") or {}).get("replicas", 1))},
        "status": status,
    }


def get(ctx: ApiContext, target: Target) -> Obj:
    return of(verbs.get(ctx, target))


def write(ctx: ApiContext, target: Target, scale: Obj, w: verbs.Write) -> Obj:
    """Store the replicas a new Scale asks for; answer the Scale of the stored object."""
    replicas = (scale.get("spec") or {}).get("replicas", 0)
    if not isinstance(replicas, int) or isinstance(replicas, bool) or replicas < 0:
        msg = f"Invalid value: {replicas}: must be greater than or equal to 0"
        raise invalid(target.rt, target.name, [Cause("spec.replicas", "FieldValueInvalid", msg)])
    obj = verbs.get(ctx, target)
    wanted = (scale.get("metadata") or {}).get("resourceVersion")
    if wanted:
        obj["metadata"]["resourceVersion"] = wanted
    obj.setdefault("spec", {})["replicas"] = replicas
    main = replace(target, subresource="")
    stored = verbs.update(ctx, main, obj, w)
    return of(stored)
