"""Endpoints and EndpointSlices of each Service, from the Pod objects (pure).

kube-controller-manager's endpoints and endpointslice controllers, reduced to one node: a
Service with a selector gets the pods of its namespace that match it and have an IP, ready
ones as addresses and the others as `notReadyAddresses` (conditions `ready: false` in the
slice; a terminating pod only in the slice, `terminating: true`); each port resolved against
the pod's named container ports. `default/kubernetes` has no selector: its one endpoint is
the API server on the node's gateway, as the real server's own reconciler writes it.
Services without a selector are left to their owner.
"""

from __future__ import annotations

from typing import Any

from podtap.backends.local.controllers import NODE_NAME
from podtap.backends.local.services import API_ENDPOINT

Obj = dict[str, Any]
SLICE_MANAGER = "endpointslice-controller.k8s.io"
#: Marks the Endpoints this controller keeps, so only those go when their Service does.
MANAGED = "endpoints.podtap.dev/managed"


def _ready(pod: Obj) -> bool:
    conditions = (pod.get("status") or {}).get("conditions") or []
    return any(c.get("type") == "Ready" and c.get("status") == "True" for c in conditions)


def _matching(service: Obj, pods: list[Obj], *, terminating: bool = False) -> list[Obj]:
    """The Service's pods with an IP; those being deleted only if `terminating` (slices)."""
    ns = service["metadata"].get("namespace", "default")
    selector = (service.get("spec") or {}).get("selector") or {}
    found = []
    for pod in pods:
        meta = pod["metadata"]
        labels = meta.get("labels") or {}
        if meta.get("namespace") != ns or (meta.get("deletionTimestamp") and not terminating):
            continue
        if not (pod.get("status") or {}).get("podIP"):
            continue
        if all(labels.get(k) == v for k, v in selector.items()):
            found.append(pod)
    return sorted(found, key=lambda p: str(p["metadata"]["name"]))


def _port(target: object, default: int, pod: Obj) -> int | None:
    if target is None:
        return default
    if isinstance(target, int):
        return target
    for c in (pod.get("spec") or {}).get("containers") or []:
        for p in c.get("ports") or []:
            if p.get("name") == target:
                return int(p["containerPort"])
    return None


def _ports(service: Obj, pod: Obj | None) -> list[Obj]:
    out = []
    for sp in (service.get("spec") or {}).get("ports") or []:
        number = (
            API_ENDPOINT[1] if pod is None else _port(sp.get("targetPort"), int(sp["port"]), pod)
        )
        if number is None:
            continue
        port: Obj = {"port": number, "protocol": sp.get("protocol", "TCP")}
        if sp.get("name"):
            port["name"] = sp["name"]
        out.append(port)
    return out


def _ref(pod: Obj) -> Obj:
    meta = pod["metadata"]
    return {"kind": "Pod", "namespace": meta["namespace"], "name": meta["name"], "uid": meta["uid"]}


def is_kubernetes(service: Obj) -> bool:
    meta = service["metadata"]
    return bool(meta.get("name") == "kubernetes" and meta.get("namespace") == "default")


def wanted(service: Obj) -> bool:
    """Whether the controller keeps this Service's endpoints."""
    return is_kubernetes(service) or bool((service.get("spec") or {}).get("selector"))


def endpoints_subsets(service: Obj, pods: list[Obj]) -> list[Obj]:
    """`subsets` of the Service's Endpoints: one per distinct port list."""
    if is_kubernetes(service):
        return [{"addresses": [{"ip": API_ENDPOINT[0]}], "ports": _ports(service, None)}]
    subsets: dict[str, Obj] = {}
    for pod in _matching(service, pods):
        ports = _ports(service, pod)
        if not ports:
            continue
        subset = subsets.setdefault(repr(ports), {"ports": ports})
        address = {"ip": pod["status"]["podIP"], "nodeName": NODE_NAME, "targetRef": _ref(pod)}
        subset.setdefault("addresses" if _ready(pod) else "notReadyAddresses", []).append(address)
    return list(subsets.values())


def slice_endpoints(service: Obj, pods: list[Obj]) -> tuple[list[Obj], list[Obj]]:
    """The (endpoints, ports) of the Service's one EndpointSlice. A slice names every port,
    "" when the Service's is unnamed (its name is a pointer, which kubectl describe
    dereferences), where an Endpoints subset leaves the name out."""
    eps, ports = _slice(service, pods)
    return eps, [{"name": "", **p} for p in ports]


def _slice(service: Obj, pods: list[Obj]) -> tuple[list[Obj], list[Obj]]:
    if is_kubernetes(service):
        conditions = {"ready": True, "serving": True, "terminating": False}
        return [{"addresses": [API_ENDPOINT[0]], "conditions": conditions}], _ports(service, None)
    eps, ports = [], list[Obj]()
    for pod in _matching(service, pods, terminating=True):
        # A terminating pod stays in its slice, never ready, serving as long as it is Ready.
        serving, ending = _ready(pod), bool(pod["metadata"].get("deletionTimestamp"))
        ports = ports or _ports(service, pod)
        eps.append(
            {
                "addresses": [pod["status"]["podIP"]],
                "conditions": {
                    "ready": serving and not ending,
                    "serving": serving,
                    "terminating": ending,
                },
                "nodeName": NODE_NAME,
                "targetRef": _ref(pod),
            }
        )
    return eps, ports or _ports(service, {})


def endpoints_object(service: Obj, pods: list[Obj]) -> Obj:
    meta = service["metadata"]
    body: Obj = {
        "apiVersion": "v1",
        "kind": "Endpoints",
        "metadata": {
            "name": meta["name"],
            "namespace": meta["namespace"],
            "labels": dict(meta.get("labels") or {}),
            "annotations": {MANAGED: "true"},
        },
    }
    subsets = endpoints_subsets(service, pods)
    if subsets:
        body["subsets"] = subsets
    return body


def slice_object(service: Obj, pods: list[Obj]) -> Obj:
    meta = service["metadata"]
    eps, ports = slice_endpoints(service, pods)
    labels = {
        **(meta.get("labels") or {}),
        "kubernetes.io/service-name": meta["name"],
        "endpointslice.kubernetes.io/managed-by": SLICE_MANAGER,
    }
    return {
        "apiVersion": "discovery.k8s.io/v1",
        "kind": "EndpointSlice",
        "metadata": {
            "name": meta["name"] if is_kubernetes(service) else f"{meta['name']}-podtap",
            "namespace": meta["namespace"],
            "labels": labels,
            "ownerReferences": [
                {
                    "apiVersion": "v1",
                    "kind": "Service",
                    "name": meta["name"],
                    "uid": meta["uid"],
                    "controller": True,
                    "blockOwnerDeletion": True,
                }
            ],
        },
        "addressType": "IPv4",
        "endpoints": eps,
        "ports": ports,
    }
