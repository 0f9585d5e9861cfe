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


def _since(stamp: object) -> str:
    """translateTimestampSince: the age of an RFC 3339 time, `<unknown>` without one."""
    if not isinstance(stamp, str) or not stamp:
        return "<unknown>"
    then = datetime.datetime.strptime(stamp, "%Y-%m-%dT%H:%M:%SZ").replace(tzinfo=datetime.UTC)
    return human_duration((datetime.datetime.now(datetime.UTC) - then).total_seconds())


def _node_status(obj: Obj) -> str:
    conditions = obj.get("status", {}).get("conditions") or []
    ready = any(c.get("type") == "Ready" and c.get("status") == "True" for c in conditions)
    status = "Ready" if ready else "NotReady"
    return status + (",SchedulingDisabled" if obj.get("spec", {}).get("unschedulable") else "")


def _node_roles(obj: Obj) -> str:
    labels = obj.get("metadata", {}).get("labels") or {}
    prefix = "node-role.kubernetes.io/"
    roles = sorted(k[len(prefix) :] for k in labels if k.startswith(prefix) and k != prefix)
    return ",".join(roles) or "<none>"


def _node_ip(kind: str) -> Callable[[Obj], str]:
    def get(obj: Obj) -> str:
        found = [
            a["address"]
            for a in obj.get("status", {}).get("addresses") or ()
            if a.get("type") == kind
        ]
        return found[0] if found else "<none>"

    return get


def _event_object(obj: Obj) -> str:
    ref = obj.get("involvedObject") or {}
    return f"{str(ref.get('kind', '')).lower()}/{ref.get('name', '')}"


def _role_ref(obj: Obj) -> str:
    ref = obj.get("roleRef") or {}
    return f"{ref.get('kind', '')}/{ref.get('name', '')}"


def _subjects(kind: str) -> Callable[[Obj], str]:
    def get(obj: Obj) -> str:
        subjects = [s for s in obj.get("subjects") or () if s.get("kind") == kind]
        if kind == "ServiceAccount":
            return ", ".join(f"{s.get('namespace', '')}/{s.get('name', '')}" for s in subjects)
        return ", ".join(str(s.get("name", "")) for s in subjects)

    return get


def _containers(field: str) -> Callable[[Obj], str]:
    def get(obj: Obj) -> str:
        containers = obj.get("spec", {}).get("template", {}).get("spec", {}).get("containers")
        return ",".join(str(c.get(field, "")) for c in containers or ())

    return get


NAME: Column = ("Name", "string", 0, _name)
AGE: Column = ("Age", "string", 0, _age)


def _apiservice_service(obj: Obj) -> str:
    service = (obj.get("spec") or {}).get("service")
    return f"{service.get('namespace')}/{service.get('name')}" if service else "Local"


def _apiservice_available(obj: Obj) -> str:
    """kube-aggregator's cell: True, else the status with the reason (`False (Reason)`)."""
    conditions = (obj.get("status") or {}).get("conditions") or []
    cond = next((c for c in conditions if c.get("type") == "Available"), None)
    if cond is None:
        return "Unknown"
    status, reason = str(cond.get("status", "Unknown")), cond.get("reason")
    return status if status == "True" or not reason else f"{status} ({reason})"


def _either(field: str) -> Callable[[Obj], str]:
    """A PodDisruptionBudget's minAvailable or maxUnavailable, `N/A` when not set."""
    return lambda o: str((o.get("spec") or {}).get(field, "N/A"))


_CREATED_AT: Column = ("Created At", "date", 0, lambda o: o["metadata"].get("creationTimestamp"))
_BINDING: list[Column] = [
    NAME,
    ("Role", "string", 0, _role_ref),
    AGE,
    ("Users", "string", 1, _subjects("User")),
    ("Groups", "string", 1, _subjects("Group")),
    ("ServiceAccounts", "string", 1, _subjects("ServiceAccount")),
]

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
    ("", "nodes"): [
        NAME,
        ("Status", "string", 0, _node_status),
        ("Roles", "string", 0, _node_roles),
        AGE,
        ("Version", "string", 0, _s("status.nodeInfo.kubeletVersion")),
        ("Internal-IP", "string", 1, _node_ip("InternalIP")),
        ("External-IP", "string", 1, _node_ip("ExternalIP")),
        ("OS-Image", "string", 1, _s("status.nodeInfo.osImage")),
        ("Kernel-Version", "string", 1, _s("status.nodeInfo.kernelVersion")),
        ("Container-Runtime", "string", 1, _s("status.nodeInfo.containerRuntimeVersion")),
    ],
    ("", "events"): [
        ("Last Seen", "string", 0, lambda o: _since(o.get("lastTimestamp") or o.get("eventTime"))),
        ("Type", "string", 0, _s("type")),
        ("Reason", "string", 0, _s("reason")),
        ("Object", "string", 0, _event_object),
        ("Subobject", "string", 1, lambda o: (o.get("involvedObject") or {}).get("fieldPath", "")),
        ("Source", "string", 1, lambda o: (o.get("source") or {}).get("component", "")),
        ("Message", "string", 0, lambda o: str(o.get("message", "")).strip()),
        ("First Seen", "string", 1, lambda o: _since(o.get("firstTimestamp"))),
        ("Count", "string", 1, lambda o: o.get("count", 1)),
        ("Name", "string", 1, _name),
    ],
    ("", "serviceaccounts"): [
        NAME,
        ("Secrets", "string", 0, lambda o: len(o.get("secrets") or ())),
        AGE,
    ],
    ("apps", "replicasets"): [
        NAME,
        ("Desired", "integer", 0, lambda o: o.get("spec", {}).get("replicas", 1)),
        ("Current", "integer", 0, lambda o: o.get("status", {}).get("replicas", 0)),
        ("Ready", "integer", 0, lambda o: o.get("status", {}).get("readyReplicas", 0)),
        AGE,
        ("Containers", "string", 1, _containers("name")),
        ("Images", "string", 1, _containers("image")),
        ("Selector", "string", 1, _selector),
    ],
    # kube-aggregator's ConvertToTable (registry/apiservice/etcd).
    ("apiregistration.k8s.io", "apiservices"): [
        NAME,
        ("Service", "string", 0, _apiservice_service),
        ("Available", "string", 0, _apiservice_available),
        AGE,
    ],
    ("rbac.authorization.k8s.io", "roles"): [NAME, _CREATED_AT],
    ("rbac.authorization.k8s.io", "clusterroles"): [NAME, _CREATED_AT],
    ("rbac.authorization.k8s.io", "rolebindings"): _BINDING,
    ("rbac.authorization.k8s.io", "clusterrolebindings"): _BINDING,
    ("policy", "poddisruptionbudgets"): [
        NAME,
        ("Min Available", "string", 0, _either("minAvailable")),
        ("Max Unavailable", "string", 0, _either("maxUnavailable")),
        (
            "Allowed Disruptions",
            "integer",
            0,
            lambda o: (o.get("status") or {}).get("disruptionsAllowed", 0),
        ),
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


def _date_cell(path: str) -> Callable[[Obj], Any]:
    """apiextensions' cell of a `type: date` column (cellForJSONValue): the time since the
    RFC 3339 timestamp (`5m`), `<invalid>` for a string that is not one."""
    get = _jsonpath_cell(path)

    def cell(obj: Obj) -> Any:
        value = get(obj)
        if value == "<none>" or not isinstance(value, str):
            return value
        try:
            then = datetime.datetime.fromisoformat(value)
        except ValueError:
            return "<invalid>"
        if then.tzinfo is None:
            return "<invalid>"  # RFC 3339 has an offset (or Z)
        return human_duration((datetime.datetime.now(datetime.UTC) - then).total_seconds())

    return cell


def columns(rt: ResourceType) -> list[Column]:
    if rt.printer_columns:
        cols: list[Column] = [NAME]
        for pc in rt.printer_columns:
            cols.append(
                (
                    str(pc["name"]),
                    str(pc.get("type", "string")),
                    int(str(pc.get("priority", 0))),
                    (_date_cell if pc.get("type") == "date" else _jsonpath_cell)(
                        str(pc.get("jsonPath", ""))
                    ),
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
