"""The node's controller: keeps pods, service rules and DNS in line with the store."""

from __future__ import annotations

import asyncio
import contextlib
import ipaddress
import logging
import time
from typing import Any

from pydantic import BaseModel

from podtap.backends.local.dns import ClusterDns
from podtap.backends.local.manifests import Manifest, Service
from podtap.backends.local.models import PodSpec
from podtap.backends.local.network import (
    POD_NETWORK,
    SERVICE_NETWORK,
    AddressPool,
    ServiceRule,
    apply_services,
)
from podtap.backends.local.paths import ClusterPaths
from podtap.backends.local.pod import PodPlan, PodRuntime
from podtap.backends.local.podconfig import PodConfigError
from podtap.backends.local.sandbox import SandboxFailed
from podtap.backends.local.services import PodView, dns_records, service_env, service_rules
from podtap.backends.local.store import Store
from podtap.backends.local.workloads import Existing, plan
from podtap.net.process import CommandFailed
from podtap.net.tasks import TaskSet

log = logging.getLogger(__name__)
RETRY_AFTER = 2.0


class Cluster:
    def __init__(self, paths: ClusterPaths, dns: ClusterDns) -> None:
        self.paths = paths
        self.store = Store(paths.objects_file)
        self.pods: dict[tuple[str, str], PodRuntime] = {}
        self._dns = dns
        self._pod_ips = AddressPool(POD_NETWORK, first_host=2)
        self._vips = AddressPool(SERVICE_NETWORK, first_host=10)
        for _, s in self.store.items("Service"):
            assert isinstance(s.model, Service)
            if s.model.spec.cluster_ip not in (None, "None"):
                self._vips.take(s.model.spec.cluster_ip)
        self._index = 0
        self._failed_at: dict[tuple[str, str], float] = {}
        self._rules: list[ServiceRule] | None = None
        self._wake = asyncio.Event()
        self._tasks = TaskSet()
        self._lock = asyncio.Lock()

    def changed(self) -> None:
        self._wake.set()

    def lookup(self, kind: str, namespace: str, name: str) -> BaseModel | None:
        stored = self.store.get(kind, namespace, name)
        return None if stored is None else stored.model

    def _services(self) -> list[Service]:
        return [s.model for _, s in self.store.items("Service") if isinstance(s.model, Service)]

    def apply(self, manifests: list[Manifest]) -> list[str]:
        results = []
        for m in manifests:
            if m.kind == "Service":
                spec = m.raw.setdefault("spec", {})
                old = self.store.get("Service", m.namespace or "", m.name)
                old_ip = old.raw["spec"].get("clusterIP") if old else None
                if not spec.get("clusterIP"):
                    spec["clusterIP"] = old_ip or str(self._vips.take())
                elif spec["clusterIP"] not in ("None", old_ip):
                    self._vips.take(spec["clusterIP"])
            results.append(f"{m.kind.lower()}/{m.name} {self.store.put(m)}")
        self.changed()
        return results

    def delete(self, manifests: list[Manifest]) -> list[str]:
        results = []
        for m in manifests:
            stored = self.store.get(*m.key)
            if stored is not None and m.kind == "Service":
                ip = stored.raw["spec"].get("clusterIP")
                if ip and ip != "None":
                    self._vips.release(ipaddress.IPv4Address(ip))
            found = self.store.delete(m.key)
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
            existing = [
                Existing(
                    p.plan.namespace,
                    p.plan.name,
                    p.plan.owner,
                    p.plan.template_hash,
                    p.phase in ("Succeeded", "Failed"),
                )
                for p in self.pods.values()
            ]
            changes = plan((s for _, s in self.store.items()), existing)
            for key in changes.delete:
                await self.remove_pod(key)
            for pod_plan in changes.create:
                self.add_pod(pod_plan)
            now = time.monotonic()
            for key, pod in list(self.pods.items()):
                if pod.phase == "Pending" and now - self._failed_at.get(key, 0) > RETRY_AFTER:
                    await self._start_pod(pod)
            await self._sync_services()

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
                lookup=self.lookup, service_env=service_env(self._services(), pod.plan.namespace)
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

    def views(self) -> list[PodView]:
        return [
            PodView(
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
            if p.phase == "Running"
        ]

    async def _sync_services(self) -> None:
        services, views = self._services(), self.views()
        self._dns.records = dns_records(services, views)
        rules = service_rules(services, views)
        if rules != self._rules:
            await apply_services(rules)
            self._rules = rules

    async def shutdown(self) -> None:
        async with self._lock:
            await asyncio.gather(*(self.remove_pod(k) for k in list(self.pods)))

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
