"""The controllers that write the API store: workloads make Pod objects, Services get IPs.

As on a real cluster, a Deployment or StatefulSet does not run anything itself: its
controller creates Pod objects (owned through `ownerReferences`, so deleting the workload
collects them, and `kubectl delete pod` gets a replacement) and the node's kubelet part
(`cluster.py`) runs every Pod object it finds. Which pods a workload should have is
`workloads.plan`'s decision, the same as before; this module reads its inputs from the store
and writes its outcome back there. Deleting pods goes through `lifecycle.remove`, so a
workload deleted in the foreground is let go once its last pod is.
"""

from __future__ import annotations

import copy
from collections.abc import Iterable

from podtap.backends.local.kubeapi import lifecycle, semantics
from podtap.backends.local.kubeapi.store import Key, Obj
from podtap.backends.local.network import SERVICE_NETWORK
from podtap.backends.local.objects import ApiObjects
from podtap.backends.local.pod import PodPlan
from podtap.backends.local.store import Stored
from podtap.backends.local.workloads import Existing, plan

NODE_NAME = "podtap-local"
TEMPLATE_HASH = "podtap.dev/template-hash"
WORKLOAD_KINDS = ("Deployment", "StatefulSet")
FIRST_VIP = 10


def owner_of(obj: Obj) -> str | None:
    """`Deployment/NS/NAME` for a pod its controller made (the runtime's owner string)."""
    meta = obj["metadata"]
    for ref in meta.get("ownerReferences") or []:
        if ref.get("controller") and ref.get("kind") in WORKLOAD_KINDS:
            return f"{ref['kind']}/{meta.get('namespace', '')}/{ref['name']}"
    return None


def revision(name: str, template_hash: str) -> str:
    return f"{name}-{template_hash[:10]}"


def pod_object(workload: Stored, pod: PodPlan) -> Obj:
    """The Pod object a workload's controller creates for one planned pod."""
    raw = workload.raw
    kind, meta = raw["kind"], raw["metadata"]
    template = raw["spec"]["template"]
    tmeta = template.get("metadata") or {}
    labels = dict(tmeta.get("labels") or {})
    spec = copy.deepcopy(template["spec"])
    if kind == "StatefulSet":
        labels["statefulset.kubernetes.io/pod-name"] = pod.name
        labels["controller-revision-hash"] = revision(meta["name"], pod.template_hash)
        spec.setdefault("hostname", pod.hostname)
        if pod.subdomain:
            spec.setdefault("subdomain", pod.subdomain)
    else:
        labels["pod-template-hash"] = pod.template_hash[:10]
    spec["nodeName"] = NODE_NAME
    owner = {
        "apiVersion": raw["apiVersion"],
        "kind": kind,
        "name": meta["name"],
        "uid": workload.uid,
        "controller": True,
        "blockOwnerDeletion": True,
    }
    return {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {
            "name": pod.name,
            "namespace": pod.namespace,
            "labels": labels,
            "annotations": {**(tmeta.get("annotations") or {}), TEMPLATE_HASH: pod.template_hash},
            "ownerReferences": [owner],
        },
        "spec": spec,
    }


def _existing(objects: ApiObjects) -> list[Existing]:
    out = []
    for (_, ns, name), stored in objects.items("Pod"):
        owner = owner_of(stored.raw)
        if owner is None or stored.raw["metadata"].get("deletionTimestamp"):
            continue
        annotations = stored.raw["metadata"].get("annotations") or {}
        phase = (stored.raw.get("status") or {}).get("phase")
        finished = phase in ("Succeeded", "Failed")
        out.append(Existing(ns, name, owner, str(annotations.get(TEMPLATE_HASH, "")), finished))
    return out


def workloads(objects: ApiObjects) -> dict[str, Stored]:
    """Workloads by their owner string, those being deleted left out."""
    return {
        f"{kind}/{ns}/{name}": stored
        for kind in WORKLOAD_KINDS
        for (_, ns, name), stored in objects.items(kind)
        if not stored.raw["metadata"].get("deletionTimestamp")
    }


def schedule(objects: ApiObjects) -> bool:
    """Create and delete Pod objects so each workload has its pods; True if any changed."""
    owners = workloads(objects)
    changes = plan(owners.values(), _existing(objects))
    pods = objects.type_of("Pod")
    assert pods is not None
    for ns, name in changes.delete:
        lifecycle.remove(objects.ctx, pods, Key("", "pods", ns, name))
    for pod in changes.create:
        assert pod.owner is not None
        obj = semantics.prepare_create(
            pods, pod_object(owners[pod.owner], pod), namespace=pod.namespace
        )
        if objects.ctx.store.get(Key("", "pods", pod.namespace, pod.name)) is None:
            objects.create(pods, Key("", "pods", pod.namespace, pod.name), obj)
    return bool(changes.create or changes.delete)


def _free_vips(taken: Iterable[str]) -> Iterable[str]:
    used = set(taken)
    for i in range(FIRST_VIP, SERVICE_NETWORK.num_addresses - 1):
        addr = str(SERVICE_NETWORK.network_address + i)
        if addr not in used:
            yield addr


def assign_cluster_ips(objects: ApiObjects) -> None:
    """Give each Service without a cluster IP the next free one (kube-apiserver's allocator
    does it in the create; here the node does it right after, before any rule is made)."""
    services = objects.type_of("Service")
    assert services is not None
    items = objects.raw_items(services)
    taken = [str((s.get("spec") or {}).get("clusterIP")) for s in items]
    free = iter(_free_vips(taken))
    for obj in items:
        spec = obj.setdefault("spec", {})
        if spec.get("clusterIP"):
            continue
        ip = next(free)
        spec["clusterIP"], spec["clusterIPs"] = ip, [ip]
        spec.setdefault("ipFamilies", ["IPv4"])
        spec.setdefault("ipFamilyPolicy", "SingleStack")
        objects.put(services, obj)
