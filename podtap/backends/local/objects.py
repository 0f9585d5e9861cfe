"""The node's view of its one object store: the Kubernetes API's, in the local cluster's words.

Every object lives in the API server's store (kubeapi/store.py): kubectl and helm write it
over HTTPS, `podtap local apply` through the node's socket, the controller for the pods it
makes and the status it reports. The controller reads it here, by kind, each object parsed
into the local models (`manifests.KINDS`) the runtime understands — cached per
resourceVersion, so a reconcile does not re-validate what did not change.

`podtap local apply` writes here too, with the generic registry's rules (uid, generation,
managedFields, a CRD's side effects) and the API's admission plugins that a client's create
or update of a built-in kind passes (`ApiContext.admission_checks`: a pod's service-account
volume, a StatefulSet's defaults, a Service's cluster IP, the node's refusals), but not
kube-apiserver's schema admission: local manifests are checked on the host by the local
models instead, which accept what a local cluster needs and a real server refuses (no
`image`, fractional probe periods). A kind without a CRD gets a schemaless one, so custom
resources stay as easy to store as before and kubectl lists them too; a namespace that does
not exist yet is created.
"""

from __future__ import annotations

import asyncio
import calendar
import copy
import logging
import time
from collections.abc import Callable, Iterator
from typing import Any

from pydantic import ValidationError

from podtap.backends.local.kubeapi import kinds, lifecycle, semantics
from podtap.backends.local.kubeapi.context import ApiContext
from podtap.backends.local.kubeapi.fields import recorded
from podtap.backends.local.kubeapi.resources import BUILTINS, ResourceType
from podtap.backends.local.kubeapi.store import Event, Key, Obj
from podtap.backends.local.manifests import KINDS, Manifest, Unknown
from podtap.backends.local.store import Stored, WatchEvent
from podtap.backends.local.workload_models import MODELS

log = logging.getLogger(__name__)
MANAGER = "podtap"
LocalKey = tuple[str, str, str]  # kind, namespace ("" if cluster-scoped), name
IMPLICIT = "podtap.dev/implicit-crd"
LOCAL_MODELS = {**KINDS, **MODELS}


def _created(meta: dict[str, Any]) -> float:
    stamp = meta.get("creationTimestamp")
    if not stamp:
        return time.time()
    return float(calendar.timegm(time.strptime(stamp, "%Y-%m-%dT%H:%M:%SZ")))


def plural_of(kind: str) -> str:
    word = kind.lower()
    if word.endswith(("s", "x", "ch", "sh")):
        return word + "es"
    if word.endswith("y") and word[-2:-1] not in tuple("aeiou"):
        return word[:-1] + "ies"
    return word + "s"


def implicit_crd(*, api_version: str, kind: str) -> Obj:
    """A schemaless, namespaced CRD for a custom kind applied without one."""
    group, _, version = api_version.rpartition("/")
    plural = plural_of(kind)
    schema = {"type": "object", "x-kubernetes-preserve-unknown-fields": True}
    return {
        "apiVersion": "apiextensions.k8s.io/v1",
        "kind": "CustomResourceDefinition",
        "metadata": {"name": f"{plural}.{group}", "labels": {IMPLICIT: "true"}},
        "spec": {
            "group": group,
            "scope": "Namespaced",
            "names": {"plural": plural, "singular": kind.lower(), "kind": kind},
            "versions": [
                {
                    "name": version,
                    "served": True,
                    "storage": True,
                    "schema": {"openAPIV3Schema": schema},
                    "subresources": {},
                }
            ],
        },
    }


class ApiObjects:
    """Objects of the API store by kind, as the local controller and commands use them."""

    def __init__(self, ctx: ApiContext) -> None:
        self.ctx = ctx
        self._parsed: dict[Key, tuple[str, Stored | str]] = {}

    # -- reading ---------------------------------------------------------------------------
    def type_of(self, kind: str, api_version: str | None = None) -> ResourceType | None:
        if api_version is not None:
            return self.ctx.registry.for_kind(api_version=api_version, kind=kind)
        return next((rt for rt in self.ctx.registry.all() if rt.kind == kind), None)

    def types(self) -> list[ResourceType]:
        seen: dict[tuple[str, str], ResourceType] = {}
        for rt in self.ctx.registry.all():
            if not rt.virtual:
                seen.setdefault((rt.group, rt.plural), rt)
        return list(seen.values())

    def raw_items(self, rt: ResourceType, namespace: str | None = None) -> list[Obj]:
        """Objects of one type; `namespace` None: all; cluster-scoped ones in any namespace."""
        ns = "" if namespace is None or not rt.namespaced else namespace
        return self.ctx.store.items(group=rt.group, plural=rt.plural, namespace=ns)

    def raw(self, kind: str, namespace: str, name: str) -> Obj | None:
        rt = self.type_of(kind)
        if rt is None:
            return None
        return self.ctx.store.get(self.key(rt, namespace, name))

    @staticmethod
    def key(rt: ResourceType, namespace: str, name: str) -> Key:
        return Key(rt.group, rt.plural, namespace if rt.namespaced else "", name)

    def _stored(self, rt: ResourceType, obj: Obj) -> Stored | str:
        """The object with its local model, or why the local models refuse it."""
        meta = obj["metadata"]
        key = self.key(rt, str(meta.get("namespace", "")), str(meta["name"]))
        rv = str(meta.get("resourceVersion"))
        cached = self._parsed.get(key)
        if cached is not None and cached[0] == rv:
            return cached[1]
        result: Stored | str
        try:
            model = LOCAL_MODELS.get(rt.kind, Unknown).model_validate(obj)
            uid = str(meta.get("uid"))
            result = Stored(obj, model, uid, _created(meta), int(rv) if rv.isdigit() else 0)
        except ValidationError as exc:
            result = "; ".join(
                f"{'.'.join(str(p) for p in e['loc']) or '(object)'}: {e['msg']}"
                for e in exc.errors()
            )
        self._parsed[key] = (rv, result)
        return result

    def items(self, kind: str, namespace: str | None = None) -> Iterator[tuple[LocalKey, Stored]]:
        """The objects of `kind` the local models accept (others are skipped: see `refused`)."""
        rt = self.type_of(kind)
        if rt is None:
            return
        for obj in self.raw_items(rt, namespace):
            stored = self._stored(rt, obj)
            if isinstance(stored, Stored):
                meta = obj["metadata"]
                yield (kind, str(meta.get("namespace", "")), str(meta["name"])), stored

    def refused(self, kind: str) -> dict[tuple[str, str], str]:
        """(namespace, name) → why the local models cannot run that object."""
        rt = self.type_of(kind)
        out: dict[tuple[str, str], str] = {}
        for obj in self.raw_items(rt) if rt is not None else []:
            why = self._stored(rt, obj)  # type: ignore[arg-type]
            if isinstance(why, str):
                meta = obj["metadata"]
                out[(str(meta.get("namespace", "")), str(meta["name"]))] = why
        return out

    def get(self, kind: str, namespace: str, name: str) -> Stored | None:
        rt = self.type_of(kind)
        obj = None if rt is None else self.ctx.store.get(self.key(rt, namespace, name))
        if rt is None or obj is None:
            return None
        stored = self._stored(rt, obj)
        return stored if isinstance(stored, Stored) else None

    # -- writing (podtap local apply / delete, and the controller) -------------------------
    def _ensure_namespace(self, name: str) -> None:
        key = Key("", "namespaces", "", name)
        if self.ctx.store.get(key) is None:
            obj = semantics.prepare_create(
                kinds.NAMESPACES, {"metadata": {"name": name}}, namespace=""
            )
            self.create(kinds.NAMESPACES, key, obj)

    def check(self, manifest: Manifest) -> None:
        """Raise what `apply` would refuse of `manifest` (LookupError, ApiError), storing
        nothing: a batch is checked whole before any of it is applied. A custom kind no CRD
        serves yet is left to `apply` (its CRD may come in the batch, or be made for it)."""
        rt = self._known_type(manifest)
        if rt is not None:
            namespace = (manifest.namespace or "default") if rt.namespaced else ""
            self._admitted(rt, copy.deepcopy(manifest.raw), namespace=namespace)

    def _known_type(self, manifest: Manifest) -> ResourceType | None:
        api_version = str(manifest.raw.get("apiVersion"))
        rt = self.type_of(manifest.kind, api_version)
        if rt is None and ("/" not in api_version or self.type_of(manifest.kind) is not None):
            raise LookupError(
                f"{manifest.source}: {manifest.ref}: no kind {manifest.kind!r} is served in "
                f"{api_version}"
            )
        return rt

    def _type_for(self, manifest: Manifest) -> ResourceType:
        api_version = str(manifest.raw.get("apiVersion"))
        rt = self._known_type(manifest)
        if rt is not None:
            return rt
        crd = implicit_crd(api_version=api_version, kind=manifest.kind)
        name = crd["metadata"]["name"]
        key = Key(kinds.CRDS.group, kinds.CRDS.plural, "", name)
        if self.ctx.store.get(key) is not None:
            raise LookupError(
                f"{manifest.source}: {manifest.ref}: the CRD {name} does not serve {api_version}"
            )
        obj = semantics.prepare_create(kinds.CRDS, crd, namespace="")
        self.create(kinds.CRDS, key, kinds.before_create(self.ctx, kinds.CRDS, obj))
        found = self.type_of(manifest.kind, api_version)
        assert found is not None
        return found

    def create(self, rt: ResourceType, key: Key, obj: Obj) -> Obj:
        """Store a prepared new object (the registry's side effects included)."""
        obj = recorded(rt, None, obj, manager=MANAGER, subresource="")
        stored = self.ctx.store.put(key, obj)
        kinds.after_write(self.ctx, rt, stored)
        return stored

    def apply(self, manifest: Manifest) -> str:
        """Create or replace one object: created, configured or unchanged."""
        rt = self._type_for(manifest)
        namespace = manifest.namespace or "default"
        if rt.namespaced:
            self._ensure_namespace(namespace)
        key = self.key(rt, namespace, manifest.name)
        body = self._admitted(rt, copy.deepcopy(manifest.raw), namespace=key.namespace)
        old = self.ctx.store.get(key)
        if old is None:
            obj = semantics.prepare_create(rt, body, namespace=key.namespace)
            self.create(rt, key, kinds.before_create(self.ctx, rt, obj))
            return "created"
        _keep_allocated(rt, body, old)
        new = semantics.prepare_update(rt, body, old=old, subresource="")
        new = recorded(rt, old, new, manager=MANAGER, subresource="")
        if semantics.unchanged(new, old):
            return "unchanged"
        stored = self.ctx.store.put(key, new)
        kinds.after_write(self.ctx, rt, stored)
        return "configured"

    def _admitted(self, rt: ResourceType, body: Obj, *, namespace: str) -> Obj:
        """The body after the admission plugins of a built-in kind (as `kubeapi.admitting`
        runs them after its schema checks); an ApiError (422) when one refuses it."""
        if rt in BUILTINS:
            if namespace:
                body.setdefault("metadata", {})["namespace"] = namespace
            for check in self.ctx.admission_checks:
                check(rt.kind, body)
        return body

    def delete(self, kind: str, namespace: str, name: str) -> bool:
        """Delete as the API does (owned objects collected in the background)."""
        rt = self.type_of(kind)
        if rt is None:
            return False
        obj = self.ctx.store.get(self.key(rt, namespace, name))
        if obj is None:
            return False
        lifecycle.delete(self.ctx, rt, obj, policy="Background", dry_run=False)
        return True

    def put(self, rt: ResourceType, obj: Obj) -> Obj:
        """A controller's write of an object it read (status, a filled-in field)."""
        meta = obj["metadata"]
        return self.ctx.store.put(self.key(rt, str(meta.get("namespace", "")), meta["name"]), obj)

    # -- watching ------------------------------------------------------------------------
    def listen(self, on_event: Callable[[Event], None]) -> Callable[[], None]:
        return self.ctx.store.listen(on_event)

    def watch(self) -> tuple[asyncio.Queue[WatchEvent], Callable[[], None]]:
        """A queue of every change from now on, and the function that stops it."""
        queue: asyncio.Queue[WatchEvent] = asyncio.Queue()

        def put(event: Event) -> None:
            queue.put_nowait(WatchEvent(event.type, str(event.obj.get("kind")), event.obj))

        return queue, self.ctx.store.listen(put)


def _keep_allocated(rt: ResourceType, body: Obj, old: Obj) -> None:
    """What the cluster filled in and a re-applied manifest leaves out stays: a Service's
    cluster IP, a pod's node (kube-apiserver keeps both the same way on update)."""
    spec, old_spec = body.setdefault("spec", {}), old.get("spec") or {}
    if (rt.group, rt.plural) == ("", "services") and not spec.get("clusterIP"):
        for field in ("clusterIP", "clusterIPs"):
            if field in old_spec:
                spec[field] = old_spec[field]
    pod = (rt.group, rt.plural) == ("", "pods")
    if pod and not spec.get("nodeName") and "nodeName" in old_spec:
        spec["nodeName"] = old_spec["nodeName"]
