"""Discovery documents: `/version`, `/api`, `/apis`, group/version resource lists, aggregated.

kubectl 1.37 first asks `/api` and `/apis` for the aggregated form (apidiscovery.k8s.io/v2,
everything in two requests) and falls back to the legacy documents (one request per
group/version) when the answer's Content-Type is plain JSON; helm uses the legacy ones. Both
are built here from the registry, so a CRD appears in both at once. Pure: dicts in, dicts out.
"""

from __future__ import annotations

from typing import Any

from podtap.backends.local.kubeapi.registry import Registry
from podtap.backends.local.kubeapi.resources import ResourceType

VERSION = {
    "major": "1",
    "minor": "37",
    "emulationMajor": "1",
    "emulationMinor": "37",
    "minCompatibilityMajor": "1",
    "minCompatibilityMinor": "36",
    "gitVersion": "v1.37.1",
    "gitCommit": "0000000000000000000000000000000000000000",
    "gitTreeState": "clean",
    "buildDate": "2026-01-01T00:00:00Z",
    "goVersion": "go1.25.0",
    "compiler": "gc",
    "platform": "linux/amd64",
}

AGGREGATED_V2 = "application/json;g=apidiscovery.k8s.io;v=v2;as=APIGroupDiscoveryList"

# subresource -> (response kind, its group, its version, verbs), as kube-apiserver lists them.
_SUBRESOURCES: dict[str, tuple[str | None, str, str, tuple[str, ...]]] = {
    "status": (None, "", "", ("get", "patch", "update")),
    "scale": ("Scale", "autoscaling", "v1", ("get", "patch", "update")),
    "log": (None, "", "", ("get",)),
    "exec": ("PodExecOptions", "", "v1", ("create", "get")),
    "attach": ("PodAttachOptions", "", "v1", ("create", "get")),
    "portforward": ("PodPortForwardOptions", "", "v1", ("create", "get")),
    "ephemeralcontainers": (None, "", "", ("get", "patch", "update")),
    "finalize": (None, "", "", ("update",)),
    "token": ("TokenRequest", "authentication.k8s.io", "v1", ("create",)),
}


def api_versions(*, server_address: str) -> dict[str, Any]:
    return {
        "kind": "APIVersions",
        "versions": ["v1"],
        "serverAddressByClientCIDRs": [
            {"clientCIDR": "0.0.0.0/0", "serverAddress": server_address}
        ],
    }


def _gv(group: str, version: str) -> dict[str, str]:
    return {"groupVersion": f"{group}/{version}", "version": version}


def api_group_list(registry: Registry) -> dict[str, Any]:
    groups = []
    for group, versions in registry.groups():
        if not group:
            continue
        groups.append(
            {
                "name": group,
                "versions": [_gv(group, v) for v in versions],
                "preferredVersion": _gv(group, versions[0]),
            }
        )
    return {"kind": "APIGroupList", "apiVersion": "v1", "groups": groups}


def api_group(registry: Registry, group: str) -> dict[str, Any] | None:
    for name, versions in registry.groups():
        if name == group and group:
            return {
                "kind": "APIGroup",
                "apiVersion": "v1",
                "name": group,
                "versions": [_gv(group, v) for v in versions],
                "preferredVersion": _gv(group, versions[0]),
            }
    return None


def _legacy_resource(rt: ResourceType) -> dict[str, Any]:
    entry: dict[str, Any] = {
        "name": rt.plural,
        "singularName": rt.singular,
        "namespaced": rt.namespaced,
        "kind": rt.kind,
        "verbs": list(rt.verbs),
    }
    if rt.short_names:
        entry["shortNames"] = list(rt.short_names)
    if rt.categories:
        entry["categories"] = list(rt.categories)
    return entry


def _legacy_subresource(rt: ResourceType, sub: str) -> dict[str, Any]:
    kind, group, version, verbs = _SUBRESOURCES[sub]
    entry: dict[str, Any] = {
        "name": f"{rt.plural}/{sub}",
        "singularName": "",
        "namespaced": rt.namespaced,
        "kind": kind or rt.kind,
        "verbs": list(verbs),
    }
    if group:
        entry["group"] = group
    if kind and version:
        entry["version"] = version
    return entry


def resource_list(registry: Registry, *, group: str, version: str) -> dict[str, Any] | None:
    types = registry.in_group_version(group=group, version=version)
    if not types:
        return None
    resources: list[dict[str, Any]] = []
    for rt in types:
        resources.append(_legacy_resource(rt))
        resources.extend(_legacy_subresource(rt, sub) for sub in rt.subresources)
    gv = f"{group}/{version}" if group else version
    return {
        "kind": "APIResourceList",
        "apiVersion": "v1",
        "groupVersion": gv,
        "resources": resources,
    }


def _aggregated_resource(rt: ResourceType) -> dict[str, Any]:
    entry: dict[str, Any] = {
        "resource": rt.plural,
        "responseKind": {"group": "", "version": "", "kind": rt.kind},
        "scope": "Namespaced" if rt.namespaced else "Cluster",
        "singularResource": rt.singular,
        "verbs": list(rt.verbs),
    }
    if rt.short_names:
        entry["shortNames"] = list(rt.short_names)
    if rt.categories:
        entry["categories"] = list(rt.categories)
    subs = []
    for sub in rt.subresources:
        kind, group, version, verbs = _SUBRESOURCES[sub]
        response = {"group": group, "version": version, "kind": kind or rt.kind}
        subs.append({"subresource": sub, "responseKind": response, "verbs": list(verbs)})
    if subs:
        entry["subresources"] = subs
    return entry


def aggregated(registry: Registry, *, core: bool) -> dict[str, Any]:
    """APIGroupDiscoveryList for `/api` (core=True) or `/apis`."""
    items = []
    for group, versions in registry.groups():
        if (group == "") != core:
            continue
        meta: dict[str, Any] = {"creationTimestamp": None}
        if group:
            meta["name"] = group
        vs = [
            {
                "version": v,
                "resources": [
                    _aggregated_resource(rt)
                    for rt in registry.in_group_version(group=group, version=v)
                ],
                "freshness": "Current",
            }
            for v in versions
        ]
        items.append({"metadata": meta, "versions": vs})
    return {
        "kind": "APIGroupDiscoveryList",
        "apiVersion": "apidiscovery.k8s.io/v2",
        "metadata": {},
        "items": items,
    }


def wants_aggregated(accept: str) -> bool:
    """True when the Accept header offers apidiscovery v2 (v2beta1 alone gets the legacy form)."""
    for offer in accept.split(","):
        params = {p.strip() for p in offer.split(";")[1:]}
        if {"g=apidiscovery.k8s.io", "v=v2", "as=APIGroupDiscoveryList"} <= params:
            return True
    return False
