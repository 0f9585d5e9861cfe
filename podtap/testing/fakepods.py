"""The embedded cluster's node without its processes: objects in, pods out, in memory.

Everything that decides runs the embedded cluster's own code: manifests are checked by
`manifests.check` and stored by its `Store` (created / configured / unchanged, versions,
watchers), `workloads.plan` says which pods exist, `podconfig.container_env` and
`services.service_env` give each container its environment, `services.dns_records` its
names. Only what would start processes is left out: a pod is running and ready as soon as
its environment can be built (a missing Secret keeps it Pending, as on the node), and its
containers get pids no process can have."""

from __future__ import annotations

import copy
import ipaddress
import itertools
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path

from pydantic import BaseModel

from podtap.backends.base import ContainerInfo, PodInfo
from podtap.backends.local.manifests import CLUSTER_SCOPED, Manifest, Service
from podtap.backends.local.network import CLUSTER_DOMAIN, POD_NETWORK, SERVICE_NETWORK, AddressPool
from podtap.backends.local.pod import PodPlan
from podtap.backends.local.podconfig import PodConfigError, container_env
from podtap.backends.local.services import PodView, dns_records, service_env
from podtap.backends.local.store import Store
from podtap.backends.local.workloads import Existing, plan

#: Above the largest pid_max Linux allows (2**22): `/proc/PID` of a fake pid never exists.
FAKE_PID_BASE = 1 << 22
PodKey = tuple[str, str]


class MemoryStore(Store):
    """The node's object store, kept in memory only."""

    def __init__(self) -> None:
        super().__init__(Path("/nonexistent/podtap-fake-objects.json"))  # nothing to load

    def _save(self) -> None:
        pass


@dataclass(slots=True)
class FakeContainer:
    name: str
    ports: tuple[int, ...]
    env: dict[str, str]
    pid: int | None

    def info(self) -> ContainerInfo:
        return ContainerInfo(self.name, self.pid, self.ports, self.pid is not None)


@dataclass(slots=True)
class FakePod:
    plan: PodPlan
    ip: str
    containers: list[FakeContainer] = field(default_factory=list)  # empty while Pending
    ready: bool = False
    message: str = ""

    @property
    def phase(self) -> str:
        return "Running" if self.containers else "Pending"

    def info(self) -> PodInfo:
        p = self.plan
        containers = tuple(c.info() for c in self.containers)
        return PodInfo(
            p.namespace, p.name, self.ip, self.phase, self.ready, p.labels, p.owner, containers
        )

    def view(self) -> PodView:
        named = {
            cp.name: cp.container_port
            for c in self.plan.spec.containers
            for cp in c.ports
            if cp.name
        }
        p = self.plan
        return PodView(
            p.namespace, p.name, self.ip, p.labels, self.ready, named, p.hostname, p.subdomain
        )


class FakeNode:
    def __init__(self) -> None:
        self.store = MemoryStore()
        self.pods: dict[PodKey, FakePod] = {}
        self._pod_ips = AddressPool(POD_NETWORK, first_host=2)
        self._vips = AddressPool(SERVICE_NETWORK, first_host=10)
        self.pids = itertools.count(FAKE_PID_BASE + 1)

    def lookup(self, kind: str, namespace: str, name: str) -> BaseModel | None:
        stored = self.store.get(kind, namespace, name)
        return None if stored is None else stored.model

    def services(self) -> list[Service]:
        return [s.model for _, s in self.store.items("Service") if isinstance(s.model, Service)]

    def apply(self, manifests: Iterable[Manifest]) -> list[str]:
        """As the node applies them: `kind/name created|configured|unchanged` each; a Service
        keeps its virtual IP, or gets one. The caller's objects are not changed."""
        results = []
        for m in manifests:
            m = Manifest(m.kind, m.name, m.namespace, copy.deepcopy(m.raw), m.source)
            if m.kind == "Service":
                self._assign_vip(m)
            results.append(f"{m.kind.lower()}/{m.name} {self.store.put(m)}")
        self.reconcile()
        return results

    def _assign_vip(self, m: Manifest) -> None:
        spec = m.raw.setdefault("spec", {})
        old = self.store.get("Service", m.namespace or "", m.name)
        kept = old.raw["spec"].get("clusterIP") if old is not None else None
        wanted = spec.get("clusterIP")
        if not wanted:
            spec["clusterIP"] = kept or str(self._vips.take())
        elif wanted not in ("None", kept):
            self._vips.take(wanted)

    def delete(self, kind: str, namespace: str | None, name: str) -> bool:
        ns = "" if kind in CLUSTER_SCOPED else namespace or "default"
        stored = self.store.get(kind, ns, name)
        ip = stored.raw.get("spec", {}).get("clusterIP") if stored and kind == "Service" else None
        if ip and ip != "None":
            self._vips.release(ipaddress.IPv4Address(ip))
        found = self.store.delete((kind, ns, name))
        self.reconcile()
        return found

    def reconcile(self) -> None:
        """One pass of the node's controller, at once: pods planned, removed, started."""
        existing = [
            Existing(*key, pod.plan.owner, pod.plan.template_hash, False)
            for key, pod in self.pods.items()
        ]
        changes = plan((s for _, s in self.store.items()), existing)
        for key in changes.delete:
            gone = self.pods.pop(key, None)
            if gone is not None:
                self._pod_ips.release(ipaddress.IPv4Address(gone.ip))
        for pod_plan in changes.create:
            ip = str(self._pod_ips.take())
            self.pods[(pod_plan.namespace, pod_plan.name)] = FakePod(pod_plan, ip)
        for pod in self.pods.values():
            if not pod.containers:
                self._start(pod)

    def _start(self, pod: FakePod) -> None:
        p = pod.plan
        fields = {
            "metadata.name": p.name,
            "metadata.namespace": p.namespace,
            "status.podIP": pod.ip,
            "spec.nodeName": "podtap-local",
            "status.hostIP": pod.ip,
        }
        services = service_env(self.services(), p.namespace)
        try:
            envs = [
                container_env(
                    c,
                    lookup=self.lookup,
                    namespace=p.namespace,
                    fields=fields,
                    service_env=services,
                )
                for c in p.spec.containers
            ]
        except PodConfigError as exc:
            pod.message = str(exc)
            return
        pod.containers = [
            FakeContainer(c.name, tuple(cp.container_port for cp in c.ports), env, next(self.pids))
            for c, env in zip(p.spec.containers, envs, strict=True)
        ]
        pod.ready, pod.message = True, ""

    def names(self, namespace: str, host: str) -> list[str]:
        """`host` looked up as a pod of `namespace` would (search list, ndots:5)."""
        records = dns_records(
            self.services(), [p.view() for p in self.pods.values() if p.containers]
        )
        name = host.lower().rstrip(".")
        search = (f"{namespace}.svc.{CLUSTER_DOMAIN}", f"svc.{CLUSTER_DOMAIN}", CLUSTER_DOMAIN)
        tries = [name] if host.endswith(".") else [*(f"{name}.{s}" for s in search), name]
        if name == "localhost":
            return ["127.0.0.1"]
        return next((records[t] for t in tries if t in records), [])
