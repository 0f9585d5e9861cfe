"""Aggregated group/versions in discovery, as kube-aggregator merges them in.

`/apis` lists every APIService's group next to the server's own, the available ones only
(an unavailable APIService is left out of discovery there too); its aggregated form
(apidiscovery.k8s.io/v2) carries each version's resources, which kube-aggregator reads from
the aggregated server's own `/apis/GROUP/VERSION` (an APIResourceList), here on each request
as `system:kube-aggregator` (a server that does not answer gives the version as `Stale`).
`/apis/GROUP` of an aggregated group is answered here, as the group is not the server's.
"""

from __future__ import annotations

import json
from typing import Any

from aiohttp import web

from podtap.backends.local.kubeapi.auth import Identity
from podtap.backends.local.kubeapi.store import Obj, Store

APISERVICES = ("apiregistration.k8s.io", "apiservices")
AGGREGATOR = Identity("system:kube-aggregator", ("system:authenticated",))


def _available(obj: Obj) -> bool:
    conditions = (obj.get("status") or {}).get("conditions") or []
    return any(c.get("type") == "Available" and c.get("status") == "True" for c in conditions)


def remote_groups(store: Store) -> dict[str, list[Obj]]:
    """Group -> its available APIServices with a Service, highest versionPriority first."""
    groups: dict[str, list[Obj]] = {}
    for obj in store.items(group=APISERVICES[0], plural=APISERVICES[1]):
        spec = obj.get("spec") or {}
        if spec.get("service") and spec.get("group") and _available(obj):
            groups.setdefault(spec["group"], []).append(obj)
    for services in groups.values():
        services.sort(key=lambda o: -int((o.get("spec") or {}).get("versionPriority") or 0))
    return groups


def _gv(group: str, version: str) -> dict[str, str]:
    return {"groupVersion": f"{group}/{version}", "version": version}


def group_document(group: str, services: list[Obj]) -> dict[str, Any]:
    versions = [_gv(group, s["spec"]["version"]) for s in services]
    return {
        "kind": "APIGroup",
        "apiVersion": "v1",
        "name": group,
        "versions": versions,
        "preferredVersion": versions[0],
    }


def aggregated_resources(resource_list: dict[str, Any]) -> list[dict[str, Any]]:
    """An APIResourceList's resources in the aggregated form (subresources folded in)."""
    out: dict[str, dict[str, Any]] = {}
    for r in resource_list.get("resources") or []:
        name, _, sub = str(r.get("name", "")).partition("/")
        kind = {"group": "", "version": "", "kind": r.get("kind", "")}
        if sub:
            entry = out.get(name)
            if entry is not None:
                entry.setdefault("subresources", []).append(
                    {"subresource": sub, "responseKind": kind, "verbs": r.get("verbs", [])}
                )
            continue
        out[name] = {
            "resource": name,
            "responseKind": kind,
            "scope": "Namespaced" if r.get("namespaced") else "Cluster",
            "singularResource": r.get("singularName") or "",
            "verbs": r.get("verbs", []),
            **({"shortNames": r["shortNames"]} if r.get("shortNames") else {}),
            **({"categories": r["categories"]} if r.get("categories") else {}),
        }
    return list(out.values())


def merge_legacy(doc: dict[str, Any], groups: dict[str, list[Obj]]) -> dict[str, Any]:
    known = {g["name"] for g in doc.get("groups") or []}
    for group, services in groups.items():
        if group not in known:
            entry = group_document(group, services)
            doc.setdefault("groups", []).append(
                {k: entry[k] for k in ("name", "versions", "preferredVersion")}
            )
    return doc


def merge_aggregated(
    doc: dict[str, Any], groups: dict[str, list[Obj]], lists: dict[tuple[str, str], Any]
) -> dict[str, Any]:
    """Add each group with its versions; `lists`: (group, version) -> its APIResourceList,
    or None when the aggregated server did not give one."""
    known = {(i.get("metadata") or {}).get("name") for i in doc.get("items") or []}
    for group, services in groups.items():
        if group in known:
            continue
        versions = []
        for s in services:
            version = s["spec"]["version"]
            found = lists.get((group, version))
            versions.append(
                {
                    "version": version,
                    "resources": aggregated_resources(found) if found else [],
                    "freshness": "Current" if found else "Stale",
                }
            )
        item = {"metadata": {"name": group, "creationTimestamp": None}, "versions": versions}
        doc.setdefault("items", []).append(item)
    return doc


def reread(response: web.StreamResponse) -> dict[str, Any] | None:
    """The JSON body of a discovery answer the server made, to merge into."""
    if not isinstance(response, web.Response) or response.status != 200:
        return None
    body = response.body
    if not isinstance(body, bytes | bytearray):
        return None
    found = json.loads(body)
    return found if isinstance(found, dict) else None
