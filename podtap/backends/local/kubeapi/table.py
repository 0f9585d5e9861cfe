"""Server-side printing: the `Table` kubectl asks for (`as=Table;g=meta.k8s.io;v=v1`).

Since 1.11 kubectl does not know how to print any kind: `kubectl get` asks the server for a
Table and prints its columns (priority 0 always, priority 1 with `-o wide`). The columns and
cell values here copy kube-apiserver's printers (pkg/printers/internalversion) for the kinds
people look at; every other kind gets NAME and AGE, and a CRD its additionalPrinterColumns.
"""

from __future__ import annotations

import datetime
from collections.abc import Callable
from typing import Any

from podtap.backends.local.kubeapi.resources import ResourceType

Obj = dict[str, Any]
Column = tuple[str, str, int, Callable[[Obj], Any]]  # name, type, priority, cell


def human_duration(seconds: float) -> str:
    """apimachinery's duration.HumanDuration, which AGE columns use."""
    s = int(seconds)
    if s < -1:
        return "<invalid>"
    if s < 0:
        return "0s"
    if s < 120:
        return f"{s}s"
    minutes = s // 60
    if minutes < 10:
        return f"{minutes}m{s % 60}s" if s % 60 else f"{minutes}m"
    if minutes < 180:
        return f"{minutes}m"
    hours = s // 3600
    if hours < 8:
        return f"{hours}h{minutes % 60}m" if minutes % 60 else f"{hours}h"
    if hours < 48:
        return f"{hours}h"
    if hours < 24 * 8:
        return f"{hours // 24}d{hours % 24}h" if hours % 24 else f"{hours // 24}d"
    if hours < 24 * 365 * 2:
        return f"{hours // 24}d"
    if hours < 24 * 365 * 8:
        days = (hours // 24) % 365
        return f"{hours // 24 // 365}y{days}d" if days else f"{hours // 24 // 365}y"
    return f"{hours // 24 // 365}y"


def _age(obj: Obj) -> str:
    stamp = obj.get("metadata", {}).get("creationTimestamp")
    if not stamp:
        return "<unknown>"
    created = datetime.datetime.strptime(stamp, "%Y-%m-%dT%H:%M:%SZ").replace(tzinfo=datetime.UTC)
    return human_duration((datetime.datetime.now(datetime.UTC) - created).total_seconds())


def _name(obj: Obj) -> str:
    return str(obj.get("metadata", {}).get("name", ""))


def _pod_ready(obj: Obj) -> str:
    statuses = obj.get("status", {}).get("containerStatuses", [])
    total = len(obj.get("spec", {}).get("containers", []))
    return f"{sum(1 for c in statuses if c.get('ready'))}/{total}"


def _pod_status(obj: Obj) -> str:
    if obj.get("metadata", {}).get("deletionTimestamp"):
        return "Terminating"
    status = obj.get("status", {})
    for c in status.get("containerStatuses", []):
        waiting = c.get("state", {}).get("waiting")
        if waiting and waiting.get("reason"):
            return str(waiting["reason"])
    return str(status.get("reason") or status.get("phase") or "Unknown")


def _restarts(obj: Obj) -> int:
    return sum(
        int(c.get("restartCount", 0)) for c in obj.get("status", {}).get("containerStatuses", [])
    )


def _ports(obj: Obj) -> str:
    ports = obj.get("spec", {}).get("ports", [])
    return ",".join(f"{p.get('port')}/{p.get('protocol', 'TCP')}" for p in ports) or "<none>"


def _selector(obj: Obj) -> str:
    sel = obj.get("spec", {}).get("selector") or {}
    labels = sel.get("matchLabels", sel) if isinstance(sel, dict) else {}
    return ",".join(f"{k}={v}" for k, v in labels.items() if isinstance(v, str)) or "<none>"


def _replicas(obj: Obj) -> str:
    status = obj.get("status", {})
    return f"{status.get('readyReplicas', 0)}/{obj.get('spec', {}).get('replicas', 1)}"


def _s(path: str) -> Callable[[Obj], Any]:
    def get(obj: Obj) -> Any:
        node: Any = obj
        for part in path.split("."):
            node = node.get(part) if isinstance(node, dict) else None
        return node if node is not None else "<none>"

    return get


NAME: Column = ("Name", "string", 0, _name)
AGE: Column = ("Age", "string", 0, _age)

_COLUMNS: dict[tuple[str, str], list[Column]] = {
    ("", "pods"): [
        NAME,
        ("Ready", "string", 0, _pod_ready),
        ("Status", "string", 0, _pod_status),
        ("Restarts", "string", 0, _restarts),
        AGE,
        ("IP", "string", 1, _s("status.podIP")),
        ("Node", "string", 1, _s("spec.nodeName")),
        ("Nominated Node", "string", 1, _s("status.nominatedNodeName")),
        ("Readiness Gates", "string", 1, lambda _o: "<none>"),
    ],
    ("", "namespaces"): [NAME, ("Status", "string", 0, _s("status.phase")), AGE],
    ("", "services"): [
        NAME,
        ("Type", "string", 0, lambda o: o.get("spec", {}).get("type", "ClusterIP")),
        ("Cluster-IP", "string", 0, _s("spec.clusterIP")),
        ("External-IP", "string", 0, lambda _o: "<none>"),
        ("Port(s)", "string", 0, _ports),
        AGE,
        ("Selector", "string", 1, _selector),
    ],
    ("", "configmaps"): [NAME, ("Data", "integer", 0, lambda o: len(o.get("data", {}))), AGE],
    ("", "secrets"): [
        NAME,
        ("Type", "string", 0, _s("type")),
        ("Data", "integer", 0, lambda o: len(o.get("data", {}))),
        AGE,
    ],
    ("apps", "deployments"): [
        NAME,
        ("Ready", "string", 0, _replicas),
        ("Up-to-date", "integer", 0, lambda o: o.get("status", {}).get("updatedReplicas", 0)),
        ("Available", "integer", 0, lambda o: o.get("status", {}).get("availableReplicas", 0)),
        AGE,
        ("Selector", "string", 1, _selector),
    ],
}


def _jsonpath_cell(path: str) -> Callable[[Obj], Any]:
    """A CRD printer column's JSONPath; only the plain `.a.b.c` form, which CRDs use."""
    return _s(path.lstrip("."))


def columns(rt: ResourceType) -> list[Column]:
    if rt.printer_columns:
        cols: list[Column] = [NAME]
        for pc in rt.printer_columns:
            cols.append(
                (
                    str(pc["name"]),
                    str(pc.get("type", "string")),
                    int(str(pc.get("priority", 0))),
                    _jsonpath_cell(str(pc.get("jsonPath", ""))),
                )
            )
        if not any(c[0].lower() == "age" for c in cols):
            cols.append(AGE)
        return cols
    return _COLUMNS.get((rt.group, rt.plural), [NAME, AGE])


def _row_object(obj: Obj, include: str) -> Obj | None:
    if include == "Object":
        return obj
    if include == "None":
        return None
    return {
        "kind": "PartialObjectMetadata",
        "apiVersion": "meta.k8s.io/v1",
        "metadata": obj.get("metadata", {}),
    }


def table(rt: ResourceType, objs: list[Obj], *, list_meta: Obj, include: str = "Metadata") -> Obj:
    """A meta.k8s.io/v1 Table of `objs`; `include` is the includeObject query (Metadata)."""
    cols = columns(rt)
    rows = []
    for obj in objs:
        row: Obj = {"cells": [c[3](obj) for c in cols]}
        embedded = _row_object(obj, include)
        if embedded is not None:
            row["object"] = embedded
        rows.append(row)
    return {
        "kind": "Table",
        "apiVersion": "meta.k8s.io/v1",
        "metadata": list_meta,
        "columnDefinitions": [
            {
                "name": name,
                "type": typ,
                "format": "name" if name == "Name" else "",
                "description": "",
                "priority": prio,
            }
            for name, typ, prio, _ in cols
        ],
        "rows": rows,
    }


def wants_table(accept: str) -> bool:
    return any(
        {"as=Table", "g=meta.k8s.io"} <= {p.strip() for p in offer.split(";")[1:]}
        for offer in accept.split(",")
    )
