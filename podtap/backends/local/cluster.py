"""The node's controller and kubelet: pods, service rules and DNS in line with the API store.

Every object is in the Kubernetes API's store (`objects.ApiObjects` is the node's view of
it). Each pass: Services get cluster IPs and workloads their Pod objects (`controllers`);
then, as a kubelet, the node runs every Pod object it finds and stops runtimes whose object
is gone or changed; then it writes back what it sees — pod phase, conditions and IPs, and the
workloads' replica counts (`podstatus`) — and syncs the Service rules and DNS.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import hashlib
import json
import logging
import time
from typing import Any

from pydantic import BaseModel

from podtap.backends.local import controllers, disruption, terminating
from podtap.backends.local.dns import ClusterDns
from podtap.backends.local.manifests import Manifest, Pod, Service
from podtap.backends.local.models import PodSpec
from podtap.backends.local.network import (
    GATEWAY,
    POD_NETWORK,
    AddressPool,
    ServiceRule,
    apply_services,
)
from podtap.backends.local.objects import ApiObjects
from podtap.backends.local.paths import ClusterPaths
from podtap.backends.local.pod import PodPlan, PodRuntime
from podtap.backends.local.podconfig import PodConfigError
from podtap.backends.local.podstatus import (
    PodView,
    iso,
    pod_status,
    unrunnable_status,
)
from podtap.backends.local.sandbox import SandboxFailed
from podtap.backends.local.services import PodView as ServicePodView
from podtap.backends.local.services import dns_records, service_env, service_rules
from podtap.backends.local.store import Stored
from podtap.net.process import CommandFailed
from podtap.net.tasks import TaskSet

log = logging.getLogger(__name__)
RETRY_AFTER = 2.0


def _spec_hash(stored: Stored) -> str:
    """What a pod's runtime is made from: its uid (a new object is a new pod) and its spec."""
    # (ephemeral containers join the running pod: adding one does not make a new pod)
    skip = ("nodeName", "ephemeralContainers")
    spec = {k: v for k, v in (stored.raw.get("spec") or {}).items() if k not in skip}
    text = json.dumps([stored.uid, spec], sort_keys=True)
    return hashlib.sha256(text.encode()).hexdigest()[:10]


def _view(pod: PodRuntime) -> PodView:
    """The pod as its status is made from: phase, readiness, each container of its spec."""
    containers = pod.container_views()
    return PodView(
        phase=pod.phase,
        ready=pod.ready,
        message=pod.message,
        ip=str(pod.ip),
        host_ip=str(GATEWAY),
        created=pod.created,
        containers=tuple(containers),
        ephemeral=pod.ephemeral_views(),
    )


def _plan_of(stored: Stored, spec_hash: str, objects: ApiObjects) -> PodPlan:
    assert isinstance(stored.model, Pod)
    meta, spec = stored.model.metadata, stored.model.spec
    ns = meta.namespace or "default"
    hostname = spec.hostname or meta.name
    owner = controllers.owner_of(stored.raw, objects)
    return PodPlan(
        ns, meta.name, dict(meta.labels), owner, spec, spec_hash, hostname, spec.subdomain,
        uid=stored.uid, annotations=dict(meta.annotations),
    )  # fmt: skip


class Cluster:
    def __init__(self, paths: ClusterPaths, dns: ClusterDns, objects: ApiObjects) -> None:
        self.paths = paths
        self.objects = objects
        self.pods: dict[tuple[str, str], PodRuntime] = {}
        self._dns = dns
        self._pod_ips = AddressPool(POD_NETWORK, first_host=2)
        self._index = 0
        self._failed_at: dict[tuple[str, str], float] = {}
        self._rules: list[ServiceRule] | None = None
        self._leaving: set[tuple[str, str]] = set()
        # Pods the API has marked deleted, their containers being stopped (not Ready, no
        # longer behind a Service); their object goes once they have stopped.
        self._terminating: dict[tuple[str, str], PodRuntime] = {}
        self._wake = asyncio.Event()
        self._tasks = TaskSet()
        self._lock = asyncio.Lock()
        self._unlisten = objects.listen(lambda _event: self.changed())

    def changed(self) -> None:
        self._wake.set()

    def lookup(self, kind: str, namespace: str, name: str) -> BaseModel | None:
        stored = self.objects.get(kind, namespace, name)
        return None if stored is None else stored.model

    def _services(self) -> list[Service]:
        return [s.model for _, s in self.objects.items("Service") if isinstance(s.model, Service)]

    def apply(self, manifests: list[Manifest]) -> list[str]:
        """`podtap local apply`: all or nothing. The host checked the schemas; the node's
        admission checks every object before any is stored; then they are stored in order."""
        ordered = sorted(
            manifests, key=lambda m: m.kind not in ("Namespace", "CustomResourceDefinition")
        )
        for m in ordered:
            self.objects.check(m)
        results = {id(m): self.objects.apply(m) for m in ordered}
        controllers.assign_cluster_ips(self.objects)
        self.changed()
        return [f"{m.kind.lower()}/{m.name} {results[id(m)]}" for m in manifests]

    def delete(self, manifests: list[Manifest]) -> list[str]:
        results = []
        for m in manifests:
            found = self.objects.delete(m.kind, m.namespace or "", m.name)
            results.append(f"{m.kind.lower()}/{m.name} {'deleted' if found else 'not found'}")
        self.changed()
        return results

    async def run(self) -> None:
        while True:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._wake.wait(), timeout=1.0)
            self._wake.clear()
            try:
                await self.reconcile()
            except Exception:
                log.exception("reconcile failed")

    async def reconcile(self) -> None:
        async with self._lock:
            controllers.assign_cluster_ips(self.objects)
            controllers.schedule(self.objects)
            await self._sync_pods()
            now = time.monotonic()
            for key, pod in list(self.pods.items()):
                if pod.phase == "Pending" and now - self._failed_at.get(key, 0) > RETRY_AFTER:
                    await self._start_pod(pod)
            self._report()
            await self._sync_services()

    async def _terminate_marked(self) -> None:
        """Stop, in the background, the pods the API has marked deleted; let their objects
        go once stopped (at once for a marked pod the node does not run)."""
        marked = terminating.marked(self.objects)
        doomed = [k for k, p in self.pods.items() if k in marked and marked[k].uid == p.plan.uid]
        for key in doomed:
            self._terminating[key] = self.pods.pop(key)
        if doomed:
            await self._sync_services()  # Services stop sending to a pod before it stops
        for key in doomed:
            grace = marked[key].grace
            self._tasks.spawn(self._terminate(key, grace), name=f"terminate pod {key[0]}/{key[1]}")
        for key, mark in marked.items():
            if key not in self.pods and key not in self._terminating:
                terminating.finish(self.objects, key, uid=mark.uid)

    async def _terminate(self, key: tuple[str, str], grace: float) -> None:
        pod = self._terminating[key]
        try:
            await pod.stop(grace=grace)
            self._pod_ips.release(pod.ip)
        finally:
            self._terminating.pop(key, None)
            self._failed_at.pop(key, None)
            terminating.finish(self.objects, key, uid=pod.plan.uid)
            self.changed()

    async def _sync_pods(self) -> None:
        """The kubelet's part: a runtime for every Pod object, none for a pod that is gone."""
        await self._terminate_marked()
        wanted: dict[tuple[str, str], tuple[Stored, str]] = {}
        for (_, ns, name), stored in self.objects.items("Pod"):
            if not stored.raw["metadata"].get("deletionTimestamp"):
                wanted[(ns, name)] = (stored, _spec_hash(stored))
        leaving = [
            key
            for key, pod in self.pods.items()
            if not (pod.plan.owner or "").startswith("Run/")
            and (key not in wanted or wanted[key][1] != pod.plan.template_hash)
        ]
        if leaving:
            # Services stop sending to a pod before it stops, so a rollout drops no request.
            self._leaving = set(leaving)
            await self._sync_services()
        for key in leaving:
            await self.remove_pod(key)
        self._leaving = set()
        for key, (stored, spec_hash) in wanted.items():
            running = self.pods.get(key)
            if running is None:
                self.add_pod(_plan_of(stored, spec_hash, self.objects))
                continue
            if isinstance(stored.model, Pod):
                running.sync_ephemeral(stored.model.spec)
            if running.plan.labels != stored.model.metadata.labels:  # type: ignore[attr-defined]
                labels = dict(stored.model.metadata.labels)  # type: ignore[attr-defined]
                running.plan = dataclasses.replace(running.plan, labels=labels)

    def _report(self) -> None:
        """Write back what runs: each pod's status, each workload's replica counts."""
        now = iso(time.time())
        pods_rt = self.objects.type_of("Pod")
        assert pods_rt is not None
        refused = self.objects.refused("Pod")
        for obj in self.objects.raw_items(pods_rt):
            meta = obj["metadata"]
            key = (str(meta.get("namespace", "")), str(meta["name"]))
            old = obj.get("status") or {}
            pod = self.pods.get(key) or self._terminating.get(key)
            if pod is not None:
                status = pod_status(_view(pod), old, now=now)
            elif key in refused:
                status = unrunnable_status(old, why=refused[key], now=now)
            else:
                continue
            spec = obj.setdefault("spec", {})
            if status != old or spec.get("nodeName") != controllers.NODE_NAME:
                obj["status"] = status
                spec["nodeName"] = controllers.NODE_NAME
                self.objects.put(pods_rt, obj)
        controllers.report(self.objects, now=now)
        disruption.report(self.objects, now=now)

    def add_pod(self, pod_plan: PodPlan) -> PodRuntime:
        self._index += 1
        pod = PodRuntime(
            pod_plan,
            ip=self._pod_ips.take(),
            index=self._index,
            directory=self.paths.pod_dir(pod_plan.namespace, pod_plan.name),
            on_change=self.changed,
        )
        self.pods[pod.key] = pod
        return pod

    async def _start_pod(self, pod: PodRuntime) -> None:
        try:
            await pod.start(
                lookup=self.lookup,
                service_env=service_env(self._services(), pod.plan.namespace),
                api=self.objects.ctx,
            )
            pod.message = ""
        except (PodConfigError, SandboxFailed, CommandFailed, OSError) as exc:
            pod.message = str(exc)
            self._failed_at[pod.key] = time.monotonic()
            await pod.sandbox.stop()
            log.warning("pod %s/%s cannot start: %s", *pod.key, exc)

    async def start_pod_now(self, pod_plan: PodPlan) -> PodRuntime:
        async with self._lock:
            pod = self.add_pod(pod_plan)
            await self._start_pod(pod)
            if pod.phase == "Pending":
                await self.remove_pod(pod.key)
                raise RuntimeError(pod.message)
            return pod

    async def remove_pod(self, key: tuple[str, str]) -> None:
        pod = self.pods.pop(key, None)
        if pod is None:
            return
        await pod.stop()
        self._pod_ips.release(pod.ip)
        self._failed_at.pop(key, None)
        self.changed()

    def views(self) -> list[ServicePodView]:
        return [
            ServicePodView(
                p.plan.namespace,
                p.plan.name,
                str(p.ip),
                p.plan.labels,
                p.ready,
                {
                    cp.name: cp.container_port
                    for c in p.plan.spec.containers
                    for cp in c.ports
                    if cp.name
                },
                p.plan.hostname,
                p.plan.subdomain,
            )
            for p in self.pods.values()
            if p.phase == "Running" and p.key not in self._leaving
        ]

    async def _sync_services(self) -> None:
        services, views = self._services(), self.views()
        self._dns.records = dns_records(services, views)
        rules = service_rules(services, views)
        if rules != self._rules:
            await apply_services(rules)
            self._rules = rules

    async def shutdown(self) -> None:
        self._unlisten()
        async with self._lock:
            ending = [p.stop() for p in self._terminating.values()]
            await asyncio.gather(*(self.remove_pod(k) for k in list(self.pods)), *ending)
            await self._tasks.close()

    def pod_status(self, namespace: str | None = None) -> list[dict[str, Any]]:
        pending = {k: p for k, p in self.pods.items() if namespace in (None, k[0])}
        return [p.snapshot() for _, p in sorted(pending.items())]


def run_pod_plan(namespace: str, name: str, spec: PodSpec) -> PodPlan:
    return PodPlan(
        namespace,
        name,
        {"podtap.dev/run": name},
        f"Run/{namespace}/{name}",
        spec,
        "run",
        name,
        None,
    )
