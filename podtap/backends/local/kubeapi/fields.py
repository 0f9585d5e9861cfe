"""`metadata.managedFields` on every write, as the real server's field manager keeps them.

kubectl shows them (`--show-managed-fields`), server-side apply reads them to find conflicts,
and Helm 4 relies on them when it takes over fields another manager set; so every create,
update and patch records its manager (`?fieldManager=`, else the user agent's first word:
`kubectl`, `helm`) through `podtap.core.kube.apply.record_update`. Custom resources are
typed by their CRD's schema, built-ins by the patch-key table.
"""

from __future__ import annotations

from podtap.backends.local.kubeapi import semantics
from podtap.backends.local.kubeapi.resources import ResourceType
from podtap.backends.local.kubeapi.store import Obj
from podtap.core.kube.apply import record_update
from podtap.core.kube.patch_schema import Type, type_from_openapi


def schema_of(rt: ResourceType) -> Type | None:
    """A custom resource's model from its CRD; None lets built-ins find their own."""
    if rt.schema is None:
        return None
    return type_from_openapi(dict(rt.schema), name=rt.kind)


def recorded(rt: ResourceType, old: Obj | None, new: Obj, *, manager: str, subresource: str) -> Obj:
    """`new` with `manager` recorded as the owner of what it changed from `old`."""
    if not manager:
        return new
    return record_update(
        old,
        new,
        manager=manager,
        now=semantics.now(),
        schema=schema_of(rt),
        subresource=subresource,
        reset_fields=reset_fields(rt, subresource),
    )


def reset_fields(rt: ResourceType, subresource: str) -> tuple[str, ...]:
    """What a write cannot own: status through the main resource, the rest through /status."""
    if subresource == "status":
        return ("spec", "metadata")
    return ("status",) if rt.has_status() else ()
