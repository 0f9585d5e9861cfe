"""What the API server does to an object on create and update, before it is stored.

These are the generic registry's rules (k8s.io/apiserver/pkg/registry/generic): a name from
`generateName`, a uid, `creationTimestamp`, `generation` 1 and bumped only when the spec
changes, metadata a client may not set (uid, creation time) kept from the stored object, and
on resources with a status subresource the status is written only through `/status` (and the
spec never through it). Pure functions over dicts, so they are tested without a server.
"""

from __future__ import annotations

import base64
import datetime
import re
import secrets
import uuid
from typing import Any

from podtap.backends.local.kubeapi.resources import ResourceType
from podtap.backends.local.kubeapi.status import Cause, invalid

Obj = dict[str, Any]

# The alphabet of names generated from generateName: no vowels, so no words (apimachinery).
_ALPHABET = "bcdfghjklmnpqrstvwxz2456789"
_LABEL = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?$")
_SUBDOMAIN = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$")
_LABEL_MSG = (
    "a lowercase RFC 1123 label must consist of lower case alphanumeric characters or '-', "
    "and must start and end with an alphanumeric character (e.g. 'my-name',  or '123-abc', "
    "regex used for validation is '[a-z0-9]([-a-z0-9]*[a-z0-9])?')"
)
_SUBDOMAIN_MSG = (
    "a lowercase RFC 1123 subdomain must consist of lower case alphanumeric characters, '-' "
    "or '.', and must start and end with an alphanumeric character (e.g. 'example.com', "
    "regex used for validation is "
    "'[a-z0-9]([-a-z0-9]*[a-z0-9])?(\\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*')"
)
# Resources whose names must be DNS labels (they become DNS names or label values).
_LABEL_NAMED = {("", "namespaces"), ("", "services")}
# Kinds that carry no spec and so no generation (their whole body is data).
_NO_SPEC = {
    "ConfigMap", "Secret", "ServiceAccount", "Event", "Endpoints", "EndpointSlice", "Namespace",
    "Service", "Node", "Role", "ClusterRole", "RoleBinding", "ClusterRoleBinding", "Lease",
}  # fmt: skip


def now() -> str:
    return datetime.datetime.now(datetime.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def generated_name(prefix: str) -> str:
    return prefix + "".join(secrets.choice(_ALPHABET) for _ in range(5))


def _path_segment_causes(name: str) -> list[Cause]:
    """RBAC objects are named by `ValidatePathSegmentName` (`system:basic-user` is fine)."""
    if name in (".", ".."):
        why = f"may not be '{name}'"
    elif "/" in name or "%" in name:
        why = f"may not contain '{'/' if '/' in name else '%'}'"
    else:
        return []
    return [Cause("metadata.name", "FieldValueInvalid", f'Invalid value: "{name}": {why}')]


def _name_causes(rt: ResourceType, name: str) -> list[Cause]:
    if rt.group == "rbac.authorization.k8s.io":
        return _path_segment_causes(name)
    if (rt.group, rt.plural) in _LABEL_NAMED:
        if len(name) > 63 or not _LABEL.match(name):
            why = _LABEL_MSG if len(name) <= 63 else "must be no more than 63 characters"
            return [Cause("metadata.name", "FieldValueInvalid", f'Invalid value: "{name}": {why}')]
    elif len(name) > 253 or not _SUBDOMAIN.match(name):
        why = _SUBDOMAIN_MSG if len(name) <= 253 else "must be no more than 253 characters"
        return [Cause("metadata.name", "FieldValueInvalid", f'Invalid value: "{name}": {why}')]
    return []


def prepare_create(rt: ResourceType, obj: Obj, *, namespace: str) -> Obj:
    """Fill what the server owns on create; Invalid when the name is missing or malformed."""
    meta = obj.setdefault("metadata", {})
    if not isinstance(meta, dict):
        raise invalid(
            rt, "", [Cause("metadata", "FieldValueInvalid", "Invalid value: must be an object")]
        )
    name = meta.get("name") or ""
    if not name and meta.get("generateName"):
        name = meta["name"] = generated_name(str(meta["generateName"]))
    if not name:
        msg = "Required value: name or generateName is required"
        raise invalid(rt, "", [Cause("metadata.name", "FieldValueRequired", msg)])
    causes = _name_causes(rt, str(name))
    if causes:
        raise invalid(rt, str(name), causes)
    obj["apiVersion"], obj["kind"] = rt.api_version, rt.kind
    if rt.namespaced:
        meta["namespace"] = namespace
    else:
        meta.pop("namespace", None)
    meta["uid"] = str(uuid.uuid4())
    meta["creationTimestamp"] = now()
    for server_owned in ("resourceVersion", "deletionTimestamp", "selfLink"):
        meta.pop(server_owned, None)
    if _has_generation(rt):
        meta["generation"] = 1
    if rt.has_status():
        obj.pop("status", None)  # status is the controllers' to write, not the creator's
    obj.update(_initial_status(rt))
    _default(rt, obj)
    return obj


def _default(rt: ResourceType, obj: Obj) -> None:
    """The API's defaulting of fields kubectl prints (more with the admission slice)."""
    if (rt.group, rt.plural) == ("", "secrets"):
        obj["type"] = obj.get("type") or "Opaque"
        fold_string_data(obj)
    elif (rt.group, rt.plural) == ("", "services"):
        spec = obj.setdefault("spec", {})
        spec["type"] = spec.get("type") or "ClusterIP"
    elif (rt.group, rt.plural) == ("apps", "deployments"):
        default_deployment(obj)


def default_deployment(obj: Obj) -> None:
    """SetDefaults_Deployment (apps/v1): what `kubectl describe deployment` prints."""
    spec = obj.get("spec")
    if not isinstance(spec, dict):
        return
    spec.setdefault("replicas", 1)
    strategy = spec.setdefault("strategy", {})
    if isinstance(strategy, dict):
        strategy["type"] = strategy.get("type") or "RollingUpdate"
        if strategy["type"] == "RollingUpdate":
            rolling = strategy.setdefault("rollingUpdate", {})
            if isinstance(rolling, dict):
                rolling.setdefault("maxUnavailable", "25%")
                rolling.setdefault("maxSurge", "25%")
    spec.setdefault("revisionHistoryLimit", 10)
    spec.setdefault("progressDeadlineSeconds", 600)


def fold_string_data(secret: Obj) -> None:
    """A Secret's write-only `stringData` goes into `data` (base64), winning over it."""
    strings = secret.pop("stringData", None)
    if isinstance(strings, dict) and strings:
        data = secret.setdefault("data", {})
        for key, value in strings.items():
            data[key] = base64.b64encode(str(value).encode()).decode()


def _initial_status(rt: ResourceType) -> Obj:
    """The status kube-apiserver's strategies set on create, where kubectl shows it."""
    if (rt.group, rt.plural) == ("", "namespaces"):
        return {"spec": {"finalizers": ["kubernetes"]}, "status": {"phase": "Active"}}
    if (rt.group, rt.plural) == ("", "pods"):
        return {"status": {"phase": "Pending"}}
    return {}


def _has_generation(rt: ResourceType) -> bool:
    return rt.kind not in _NO_SPEC


def _content(obj: Obj) -> Obj:
    """The parts of an object whose change bumps generation: all but metadata and status."""
    return {k: v for k, v in obj.items() if k not in ("metadata", "status", "apiVersion", "kind")}


def prepare_update(rt: ResourceType, new: Obj, *, old: Obj, subresource: str) -> Obj:
    """The object to store for a PUT over `old` (main resource, or `status`)."""
    old_meta = old["metadata"]
    if subresource == "status":
        out = {**old, "status": new.get("status", old.get("status"))}
        return out
    meta = new.setdefault("metadata", {})
    for kept in ("uid", "creationTimestamp", "namespace", "name", "deletionTimestamp"):
        if kept in old_meta:
            meta[kept] = old_meta[kept]
        else:
            meta.pop(kept, None)
    new["apiVersion"], new["kind"] = rt.api_version, rt.kind
    if rt.has_status():
        if "status" in old:
            new["status"] = old["status"]
        else:
            new.pop("status", None)
    if (rt.group, rt.plural) == ("", "secrets"):
        fold_string_data(new)
    if (rt.group, rt.plural) == ("apps", "deployments"):
        default_deployment(new)
    if _has_generation(rt):
        generation = int(old_meta.get("generation", 1))
        meta["generation"] = generation + (_content(new) != _content(old))
    return new


def unchanged(new: Obj, old: Obj) -> bool:
    """A no-op update: stored as is, without a new resourceVersion (as kube-apiserver)."""
    strip = {"resourceVersion", "managedFields"}
    a = {**new, "metadata": {k: v for k, v in new["metadata"].items() if k not in strip}}
    b = {**old, "metadata": {k: v for k, v in old["metadata"].items() if k not in strip}}
    return a == b
