"""What particular kinds do when written: CRDs serve their resources, namespaces cascade.

kube-apiserver does these in controllers that run beside the registry (the CRD
establishing and naming controllers, the namespace controller). Here they run inline around
the store write, so a CRD is `Established` in the very answer to its create and the next
request can use its resources — what `kubectl apply -f crd.yaml -f cr.yaml` and Helm's CRD
install rely on (a real server is a few milliseconds slower; clients already wait for it).
"""

from __future__ import annotations

from typing import Any

from podtap.backends.local.kubeapi import rbac_objects, semantics
from podtap.backends.local.kubeapi.context import ApiContext
from podtap.backends.local.kubeapi.resources import ALL_VERBS, BUILTINS, ResourceType
from podtap.backends.local.kubeapi.status import Cause, invalid
from podtap.backends.local.kubeapi.store import Key, Obj

NAMESPACES = next(r for r in BUILTINS if r.plural == "namespaces")
CRDS = next(r for r in BUILTINS if r.plural == "customresourcedefinitions")
SYSTEM_NAMESPACES = ("default", "kube-node-lease", "kube-public", "kube-system")


def seed(ctx: ApiContext) -> None:
    """The namespaces and the bootstrap RBAC policy every cluster starts with."""
    rbac_objects.seed(ctx)
    for name in SYSTEM_NAMESPACES:
        if ctx.store.get(Key("", "namespaces", "", name)) is None:
            obj = semantics.prepare_create(NAMESPACES, {"metadata": {"name": name}}, namespace="")
            ctx.store.put(Key("", "namespaces", "", name), before_create(ctx, NAMESPACES, obj))


def restore_types(ctx: ApiContext) -> None:
    """Serve the resources of every stored CRD (after `Store.restore`)."""
    for crd in ctx.store.items(group=CRDS.group, plural=CRDS.plural):
        after_write(ctx, CRDS, crd)
    ctx.rbac.invalidate()


def before_create(ctx: ApiContext, rt: ResourceType, obj: Obj) -> Obj:
    if rt is NAMESPACES:
        labels = obj["metadata"].setdefault("labels", {})
        labels["kubernetes.io/metadata.name"] = obj["metadata"]["name"]
    elif rt is CRDS:
        _check_crd(obj)
        obj["status"] = _crd_status(obj)
    return obj


def after_write(ctx: ApiContext, rt: ResourceType, obj: Obj) -> None:
    if rt is CRDS:
        ctx.registry.set_custom(crd_name=obj["metadata"]["name"], types=custom_types(obj))
    elif rt is rbac_objects.CLUSTER_ROLES:
        rbac_objects.aggregate(ctx)


def after_delete(ctx: ApiContext, rt: ResourceType, obj: Obj) -> None:
    del obj
    if rt is rbac_objects.CLUSTER_ROLES:
        rbac_objects.aggregate(ctx)


def before_delete(ctx: ApiContext, rt: ResourceType, obj: Obj) -> None:
    """A CRD takes its custom objects along (the namespace's content: `lifecycle`)."""
    name = obj["metadata"]["name"]
    if rt is CRDS:
        spec = obj.get("spec", {})
        for custom in ctx.store.items(
            group=spec.get("group", ""), plural=spec.get("names", {}).get("plural", "")
        ):
            meta = custom["metadata"]
            key = Key(
                spec["group"], spec["names"]["plural"], meta.get("namespace", ""), meta["name"]
            )
            ctx.store.delete(key)
        ctx.registry.set_custom(crd_name=name, types=())


def _check_crd(obj: Obj) -> None:
    spec = obj.get("spec") or {}
    names = spec.get("names") or {}
    name = obj["metadata"]["name"]
    causes = []
    expected = f"{names.get('plural', '')}.{spec.get('group', '')}"
    if name != expected:
        causes.append(
            Cause(
                "metadata.name",
                "FieldValueInvalid",
                f'Invalid value: "{name}": must be spec.names.plural+"."+spec.group',
            )
        )
    if not names.get("kind"):
        causes.append(Cause("spec.names.kind", "FieldValueRequired", "Required value"))
    if spec.get("scope") not in ("Namespaced", "Cluster"):
        causes.append(
            Cause(
                "spec.scope",
                "FieldValueNotSupported",
                f'Unsupported value: "{spec.get("scope", "")}": '
                'supported values: "Cluster", "Namespaced"',
            )
        )
    if not spec.get("versions"):
        causes.append(
            Cause(
                "spec.versions",
                "FieldValueInvalid",
                "Invalid value: null: must have exactly one version marked as storage version",
            )
        )
    for i, version in enumerate(spec.get("versions") or []):
        if not (version.get("schema") or {}).get("openAPIV3Schema"):
            field = f"spec.versions[{i}].schema.openAPIV3Schema"
            causes.append(
                Cause(field, "FieldValueRequired", "Required value: schemas are required")
            )
    if causes:
        raise invalid(CRDS, name, causes)


def _accepted_names(spec: Obj) -> Obj:
    names = dict(spec.get("names") or {})
    names.setdefault("singular", str(names.get("kind", "")).lower())
    names.setdefault("listKind", f"{names.get('kind', '')}List")
    return names


def _crd_status(obj: Obj) -> Obj:
    spec = obj["spec"]
    now = semantics.now()

    def condition(kind: str, reason: str, message: str) -> dict[str, Any]:
        return {
            "type": kind,
            "status": "True",
            "lastTransitionTime": now,
            "reason": reason,
            "message": message,
        }

    storage = [v["name"] for v in spec["versions"] if v.get("storage")]
    return {
        "conditions": [
            condition("NamesAccepted", "NoConflicts", "no conflicts found"),
            condition(
                "Established", "InitialNamesAccepted", "the initial names have been accepted"
            ),
        ],
        "acceptedNames": _accepted_names(spec),
        "storedVersions": storage or [spec["versions"][0]["name"]],
    }


def custom_types(crd: Obj) -> tuple[ResourceType, ...]:
    """The resource types a CRD serves: one per served version."""
    spec = crd.get("spec") or {}
    names = _accepted_names(spec)
    out = []
    for version in spec.get("versions", []):
        if not version.get("served", True):
            continue
        subs = version.get("subresources") or {}
        schema = (version.get("schema") or {}).get("openAPIV3Schema")
        out.append(
            ResourceType(
                group=spec["group"],
                version=version["name"],
                plural=names["plural"],
                singular=names["singular"],
                kind=names["kind"],
                namespaced=spec.get("scope") == "Namespaced",
                verbs=ALL_VERBS,
                short_names=tuple(names.get("shortNames", ())),
                categories=tuple(names.get("categories", ())),
                subresources=tuple(s for s in ("status", "scale") if s in subs),
                schema=schema,
                printer_columns=tuple(version.get("additionalPrinterColumns", ())),
            )
        )
    return tuple(out)
