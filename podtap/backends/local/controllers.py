"""The controllers that write the API store: workloads make Pod objects, Services get IPs.

As on a real cluster, a Deployment or StatefulSet does not run anything itself: its
controller creates Pod objects (owned through `ownerReferences`, so deleting the workload
collects them, and `kubectl delete pod` gets a replacement) and the node's kubelet part
(`cluster.py`) runs every Pod object it finds. Which pods a workload should have is
`workloads.plan`'s decision (a StatefulSet's, with its ControllerRevisions and the order of
its rollout, `statefulsets.decide`'s); this module reads their inputs from the store and
writes their outcome back there. Deleting pods goes through `lifecycle.remove`, so a
workload deleted in the foreground is let go once its last pod is.
"""

from __future__ import annotations

import calendar
import copy
import secrets
import time
from collections.abc import Iterable, Iterator

from podtap.backends.local import deployments, jobs, statefulsets
from podtap.backends.local.kubeapi import lifecycle, semantics
from podtap.backends.local.kubeapi.resources import ResourceType
from podtap.backends.local.kubeapi.store import Key, Obj
from podtap.backends.local.network import SERVICE_NETWORK
from podtap.backends.local.objects import ApiObjects
from podtap.backends.local.pod import PodPlan
from podtap.backends.local.podstatus import (
    ReplicaCounts,
    daemonset_status,
    iso,
    replicaset_status,
)
from podtap.backends.local.store import Stored
from podtap.backends.local.workloads import Existing, plan, template_hash

NODE_NAME = "podtap-local"
TEMPLATE_HASH = "podtap.dev/template-hash"
WORKLOAD_KINDS = ("ReplicaSet", "StatefulSet", "DaemonSet")
OWNER_KINDS = (*WORKLOAD_KINDS, "Job", "Deployment")
FIRST_VIP = 10


def controller_of(obj: Obj) -> str | None:
    """`KIND/NS/NAME` of the controller that made a pod (or a ReplicaSet)."""
    meta = obj["metadata"]
    for ref in meta.get("ownerReferences") or []:
        if ref.get("controller") and ref.get("kind") in OWNER_KINDS:
            return f"{ref['kind']}/{meta.get('namespace', '')}/{ref['name']}"
    return None


def owner_of(obj: Obj, objects: ApiObjects) -> str | None:
    """The runtime's owner string of a pod: its workload, a ReplicaSet's Deployment."""
    owner = controller_of(obj)
    if owner is not None and owner.startswith("ReplicaSet/"):
        _, ns, name = owner.split("/", 2)
        rs = objects.raw("ReplicaSet", ns, name)
        return (controller_of(rs) if rs is not None else None) or owner
    return owner


def _now() -> str:
    return iso(time.time())


def _suffix() -> str:
    alphabet = "bcdfghjklmnpqrstvwxz2456789"
    return "".join(secrets.choice(alphabet) for _ in range(5))


def pod_object(workload: Stored, pod: PodPlan) -> Obj:
    """The Pod object a workload's controller creates for one planned pod."""
    raw = workload.raw
    kind, meta = raw["kind"], raw["metadata"]
    template = raw["spec"]["template"]
    tmeta = template.get("metadata") or {}
    labels = dict(tmeta.get("labels") or {})
    spec = copy.deepcopy(template["spec"])
    if kind == "Job":
        uid = workload.uid
        labels.update(
            {
                "batch.kubernetes.io/controller-uid": uid,
                "batch.kubernetes.io/job-name": meta["name"],
                "controller-uid": uid,
                "job-name": meta["name"],
            }
        )
    elif kind == "DaemonSet":
        labels["controller-revision-hash"] = pod.template_hash[:10]
        labels["pod-template-generation"] = str(meta.get("generation", 1))
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
        owner = controller_of(stored.raw)
        if owner is None or stored.raw["metadata"].get("deletionTimestamp"):
            continue
        if owner.startswith(("Job/", "StatefulSet/")):
            continue
        annotations = stored.raw["metadata"].get("annotations") or {}
        phase = (stored.raw.get("status") or {}).get("phase")
        finished = phase in ("Succeeded", "Failed")
        h = str(annotations.get(TEMPLATE_HASH, ""))
        out.append(Existing(ns, name, owner, h, finished, _is_ready(stored.raw)))
    return out


def workloads(objects: ApiObjects) -> dict[str, Stored]:
    """Workloads by their owner string, those being deleted left out (StatefulSets have
    their own controller, `_statefulsets`)."""
    return {
        f"{kind}/{ns}/{name}": stored
        for kind in ("ReplicaSet", "DaemonSet")
        for (_, ns, name), stored in objects.items(kind)
        if not stored.raw["metadata"].get("deletionTimestamp")
    }


def _is_ready(pod: Obj) -> bool:
    conditions = (pod.get("status") or {}).get("conditions") or []
    return any(c.get("type") == "Ready" and c.get("status") == "True" for c in conditions)


def _create_pod(objects: ApiObjects, workload: Stored, pod: PodPlan) -> None:
    _create_pod_object(objects, pod_object(workload, pod))


def _create_pod_object(objects: ApiObjects, body: Obj) -> None:
    pods = objects.type_of("Pod")
    assert pods is not None
    ns, name = body["metadata"]["namespace"], body["metadata"]["name"]
    key = Key("", "pods", ns, name)
    if objects.ctx.store.get(key) is None:
        obj = semantics.prepare_create(pods, body, namespace=ns)
        # the pod goes through the same admission as one a client creates (its service
        # account and token volume), as kube-controller-manager's pods do
        for check in objects.ctx.admission_checks:
            check("Pod", obj)
        objects.create(pods, key, obj)


def _remove_pod(objects: ApiObjects, namespace: str, name: str) -> None:
    pods = objects.type_of("Pod")
    assert pods is not None
    lifecycle.remove(objects.ctx, pods, Key("", "pods", namespace, name))


def schedule(objects: ApiObjects) -> bool:
    """Create and delete Pod objects so each workload has its pods; True if any changed."""
    deployments.reconcile(objects)
    owners = workloads(objects)
    changes = plan(owners.values(), _existing(objects))
    for ns, name in changes.delete:
        _remove_pod(objects, ns, name)
    for pod in changes.create:
        assert pod.owner is not None
        _create_pod(objects, owners[pod.owner], pod)
    _run_jobs(objects)
    return bool(changes.create or changes.delete) | _statefulsets(objects)


def _owned_pods(objects: ApiObjects, owner: str) -> list[Obj]:
    pods = objects.type_of("Pod")
    assert pods is not None
    ns = owner.split("/", 2)[1]
    return [
        p
        for p in objects.raw_items(pods, ns)
        if controller_of(p) == owner and not p["metadata"].get("deletionTimestamp")
    ]


def _run_jobs(objects: ApiObjects) -> None:
    """Each Job's step (`jobs.decide`): pods started and stopped, its status written."""
    rt = objects.type_of("Job")
    assert rt is not None
    for (_, ns, name), stored in objects.items("Job"):
        if stored.raw["metadata"].get("deletionTimestamp"):
            continue
        owner = f"Job/{ns}/{name}"
        seen = [
            jobs.JobPod(
                p["metadata"]["name"],
                str((p.get("status") or {}).get("phase") or "Pending"),
                _is_ready(p),
            )
            for p in _owned_pods(objects, owner)
        ]
        obj = copy.deepcopy(stored.raw)
        old = obj.get("status") or {}
        step = jobs.decide(obj.get("spec") or {}, seen, old=old, now=_now())
        for pod_name in step.stop:
            _remove_pod(objects, ns, pod_name)
        template = stored.model.spec.template  # type: ignore[attr-defined]
        h = template_hash(template)
        for _ in range(step.start):
            pod_name = f"{name}-{_suffix()}"
            labels = dict(template.metadata.labels)
            pod = PodPlan(ns, pod_name, labels, owner, template.spec, h, pod_name, None)
            _create_pod(objects, stored, pod)
        if step.status != old:
            obj["status"] = step.status
            objects.put(rt, obj)


def report(objects: ApiObjects, *, now: str) -> None:
    """Workload status from the pods' stored status: ReplicaSets, DaemonSets and
    StatefulSets, then the Deployments from their ReplicaSets."""
    for owner, stored in workloads(objects).items():
        current = template_hash(stored.model.spec.template)  # type: ignore[attr-defined]
        mine = _owned_pods(objects, owner)
        updated = [
            p
            for p in mine
            if (p["metadata"].get("annotations") or {}).get(TEMPLATE_HASH) == current
        ]
        counts = ReplicaCounts(
            replicas=len(mine),
            updated=len(updated),
            ready=sum(_is_ready(p) for p in mine),
            updated_ready=sum(_is_ready(p) for p in updated),
        )
        kind = owner.split("/", 1)[0]
        rt = objects.type_of(kind)
        meta = stored.raw["metadata"]
        obj = objects.ctx.store.get(objects.key(rt, meta["namespace"], meta["name"]))  # type: ignore[arg-type]
        if rt is None or obj is None:
            continue
        old = obj.get("status") or {}
        if kind == "ReplicaSet":
            status = replicaset_status(obj, counts)
        else:
            status = daemonset_status(obj, counts)
        if status != old:
            obj["status"] = status
            objects.put(rt, obj)
    for sts, _, revisions, members in _statefulset_views(objects):
        status = statefulsets.status(sts, revisions=revisions, pods=members)
        if status != sts.get("status"):
            sts["status"] = status
            objects.put(_type(objects, "StatefulSet"), sts)
    deployments.report(objects, now=now)


def _type(objects: ApiObjects, kind: str) -> ResourceType:
    rt = objects.type_of(kind)
    assert rt is not None
    return rt


def _ready_for(pod: Obj, *, now: float) -> float:
    """Seconds since the pod's Ready condition turned True."""
    conditions = (pod.get("status") or {}).get("conditions") or []
    since = next((c.get("lastTransitionTime") for c in conditions if c.get("type") == "Ready"), "")
    if not since:
        return float("inf")
    return now - calendar.timegm(time.strptime(since, "%Y-%m-%dT%H:%M:%SZ"))


def _member(pod: Obj) -> statefulsets.Member:
    meta, phase = pod["metadata"], (pod.get("status") or {}).get("phase")
    labels = meta.get("labels") or {}
    ordinal = meta["name"].rsplit("-", 1)[-1]
    return statefulsets.Member(
        name=meta["name"],
        ordinal=int(ordinal) if ordinal.isdigit() else -1,
        revision=str(labels.get(statefulsets.REVISION_LABEL, "")),
        ready=phase == "Running" and _is_ready(pod),
        ready_for=_ready_for(pod, now=time.time()),
        finished=phase in ("Succeeded", "Failed"),
        terminating=bool(meta.get("deletionTimestamp")),
    )


def _statefulset_views(
    objects: ApiObjects,
) -> Iterator[tuple[Obj, list[Obj], statefulsets.Revisions, list[statefulsets.Member]]]:
    """Each StatefulSet not being deleted, its ControllerRevisions, which of them are the
    current and update revisions, its pods."""
    cr_rt = _type(objects, "ControllerRevision")
    for sts in objects.raw_items(_type(objects, "StatefulSet")):
        meta = sts["metadata"]
        if meta.get("deletionTimestamp") or not (sts.get("spec") or {}).get("template"):
            continue
        owned = [
            cr
            for cr in objects.raw_items(cr_rt, meta.get("namespace", "default"))
            if any(r.get("uid") == meta["uid"] for r in cr["metadata"].get("ownerReferences") or [])
        ]
        revisions = statefulsets.resolve(sts, [statefulsets.revision_view(cr) for cr in owned])
        owner = f"StatefulSet/{meta.get('namespace', 'default')}/{meta['name']}"
        yield sts, owned, revisions, [_member(p) for p in _owned_pods(objects, owner)]


def _statefulsets(objects: ApiObjects) -> bool:
    """The statefulset controller's pass (`statefulsets.decide`); True if pods changed."""
    cr_rt, changed = _type(objects, "ControllerRevision"), False
    for sts, crs, revisions, members in _statefulset_views(objects):
        owned = {cr["metadata"]["name"]: cr for cr in crs}
        ns = sts["metadata"].get("namespace", "default")
        if revisions.create is not None:
            body = semantics.prepare_create(cr_rt, revisions.create, namespace=ns)
            created = objects.create(cr_rt, objects.key(cr_rt, ns, revisions.update), body)
            owned[revisions.update] = created
        if revisions.renumber is not None:
            name, number = revisions.renumber
            owned[name]["revision"] = number
            owned[name] = objects.put(cr_rt, owned[name])
        step = statefulsets.decide(statefulsets.policy_of(sts), revisions=revisions, pods=members)
        for name in step.delete:
            _remove_pod(objects, ns, name)
        for ordinal, name in step.create:
            template = statefulsets.template_of(owned[name].get("data") or {})
            _create_pod_object(
                objects,
                statefulsets.pod_body(
                    sts, ordinal=ordinal, revision=name, template=template, node=NODE_NAME
                ),
            )
        live = {m.revision for m in members} | {revisions.current, revisions.update}
        views = [statefulsets.revision_view(cr) for cr in owned.values()]
        limit = (sts.get("spec") or {}).get("revisionHistoryLimit")
        for name in statefulsets.expired(views, live=live, limit=limit):
            lifecycle.remove(objects.ctx, cr_rt, objects.key(cr_rt, ns, name))
        changed |= bool(step.create or step.delete)
    return changed


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
