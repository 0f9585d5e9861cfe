"""Rendering `podtap local get`."""

from __future__ import annotations

import calendar
import json
import time
from typing import Any

import yaml

from podtap.cli.output import Format, age, columns

KINDS_HELP = (
    "pods, deployments, statefulsets, services, configmaps, secrets, namespaces, "
    "all, or any stored kind (custom resources)"
)
ALIASES = {
    "po": "Pod",
    "pod": "Pod",
    "pods": "Pod",
    "deploy": "Deployment",
    "deployment": "Deployment",
    "deployments": "Deployment",
    "sts": "StatefulSet",
    "statefulset": "StatefulSet",
    "statefulsets": "StatefulSet",
    "svc": "Service",
    "service": "Service",
    "services": "Service",
    "cm": "ConfigMap",
    "configmap": "ConfigMap",
    "configmaps": "ConfigMap",
    "secret": "Secret",
    "secrets": "Secret",
    "ns": "Namespace",
    "namespace": "Namespace",
    "namespaces": "Namespace",
}
ALL = ["Pod", "Deployment", "StatefulSet", "Service", "ConfigMap", "Secret"]


def _kind(word: str, known: set[str]) -> str:
    if word.lower() in ALIASES:
        return ALIASES[word.lower()]
    for kind in known:
        if word.lower() in (kind.lower(), kind.lower() + "s"):
            return kind
    raise KeyError(f"unknown kind {word!r}: expected {KINDS_HELP}")


def _pod_rows(pods: list[dict[str, Any]], wide: bool) -> tuple[list[str], list[list[Any]]]:
    now = time.time()
    head = ["NAMESPACE", "NAME", "READY", "STATUS", "RESTARTS", "AGE"]
    rows = []
    for p in pods:
        cs = p["containers"]
        ready = sum(1 for c in cs if c["state"] == "Running") if p["ready"] else 0
        status = p["phase"]
        bad = [c["reason"] for c in cs if c["reason"] and c["state"] != "Running"]
        if p["phase"] == "Running" and bad:
            status = bad[0]
        if p["message"]:
            status = f"Pending ({p['message']})"
        row = [
            p["namespace"],
            p["name"],
            f"{ready}/{len(cs) or '?'}",
            status,
            p["restarts"],
            age(now - p["created"]),
        ]
        if wide:
            row += [p["ip"], ",".join(str(c["pid"] or "-") for c in cs)]
        rows.append(row)
    return head + (["IP", "PIDS"] if wide else []), rows


def _object_rows(
    kind: str, objects: list[dict[str, Any]], pods: list[dict[str, Any]], wide: bool
) -> tuple[list[str], list[list[Any]]]:
    def created(o: dict[str, Any]) -> str:
        stamp = time.strptime(o["metadata"]["creationTimestamp"], "%Y-%m-%dT%H:%M:%SZ")
        return age(time.time() - calendar.timegm(stamp))

    rows: list[list[Any]] = []
    for o in objects:
        m = o["metadata"]
        base = [m.get("namespace") or "", m["name"]]
        spec = o.get("spec", {})
        if kind in ("Deployment", "StatefulSet"):
            owner = f"{kind}/{m.get('namespace')}/{m['name']}"
            mine = [p for p in pods if p["owner"] == owner]
            base += [f"{sum(p['ready'] for p in mine)}/{spec.get('replicas', 1)}"]
        elif kind == "Service":
            ports = ",".join(f"{p['port']}/{p.get('protocol', 'TCP')}" for p in spec["ports"])
            base += [spec.get("type", "ClusterIP"), spec.get("clusterIP"), ports]
        elif kind in ("ConfigMap", "Secret"):
            base += [len(o.get("data", {})) + len(o.get("stringData", {}))]
        rows.append([*base, created(o)])
    extra = {
        "Deployment": ["READY"],
        "StatefulSet": ["READY"],
        "Service": ["TYPE", "CLUSTER-IP", "PORTS"],
        "ConfigMap": ["DATA"],
        "Secret": ["DATA"],
    }
    return ["NAMESPACE", "NAME", *extra.get(kind, []), "AGE"], rows


def render_get(
    objects: list[dict[str, Any]],
    pods: list[dict[str, Any]],
    word: str,
    namespace: str | None,
    *,
    fmt: Format = Format.table,
) -> str:
    known = {o["kind"] for o in objects}
    kinds = (
        ALL + sorted(known - set(ALL) - {"Namespace"}) if word == "all" else [_kind(word, known)]
    )
    if fmt in (Format.json, Format.yaml):
        items: list[dict[str, Any]] = []
        for kind in kinds:
            if kind == "Pod":
                items += [{"kind": "Pod", **p} for p in pods]
            else:
                items += [o for o in objects if o["kind"] == kind]
        doc = {"items": items}
        return json.dumps(doc, indent=2, default=str) if fmt is Format.json else yaml.safe_dump(doc)
    sections: list[tuple[str, list[str], list[list[Any]]]] = []
    for kind in kinds:
        if kind == "Pod":
            head, rows = _pod_rows(pods, fmt is Format.wide)
        else:
            head, rows = _object_rows(
                kind, [o for o in objects if o["kind"] == kind], pods, fmt is Format.wide
            )
        if rows or len(kinds) == 1:
            sections.append((kind, head, rows))
    if len(sections) == 1:
        return columns(sections[0][1], sections[0][2])
    return "\n\n".join(f"{kind}:\n" + columns(head, rows) for kind, head, rows in sections)
