"""Services (pure): endpoints from ready pods, NAT rules, DNS records, pod env."""

from __future__ import annotations

import ipaddress
from collections.abc import Iterable
from dataclasses import dataclass

from podtap.backends.local.manifests import Service
from podtap.backends.local.network import CLUSTER_DOMAIN, GATEWAY, ServiceRule

#: `default/kubernetes`: the API server, whose one endpoint is the node's gateway address.
KUBERNETES_VIP = "10.96.0.1"
API_ENDPOINT = (str(GATEWAY), 6443)


def is_kubernetes(service: Service) -> bool:
    return service.metadata.name == "kubernetes" and service.metadata.namespace == "default"


@dataclass(frozen=True, slots=True)
class PodView:
    namespace: str
    name: str
    ip: str
    labels: dict[str, str]
    ready: bool
    ports: dict[str, int]  # named container ports
    hostname: str
    subdomain: str | None


def _target_port(port: int | str | None, default: int, pod: PodView) -> int | None:
    if port is None:
        return default
    if isinstance(port, int):
        return port
    return pod.ports.get(port)


def endpoints(service: Service, pods: Iterable[PodView]) -> list[PodView]:
    ns = service.metadata.namespace or "default"
    sel = service.spec.selector
    if not sel:
        return []
    return sorted(
        (
            p
            for p in pods
            if p.namespace == ns and p.ready and all(p.labels.get(k) == v for k, v in sel.items())
        ),
        key=lambda p: ipaddress.IPv4Address(p.ip),
    )


def service_rules(services: Iterable[Service], pods: list[PodView]) -> list[ServiceRule]:
    rules: list[ServiceRule] = []
    for svc in services:
        vip = svc.spec.cluster_ip
        if not vip or vip == "None":
            continue
        eps = endpoints(svc, pods)
        for sp in svc.spec.ports:
            if is_kubernetes(svc):
                rules.append(ServiceRule(vip, sp.port, sp.protocol, (API_ENDPOINT,)))
                continue
            targets = tuple(
                (p.ip, tp)
                for p in eps
                if (tp := _target_port(sp.target_port, sp.port, p)) is not None
            )
            rules.append(ServiceRule(vip, sp.port, sp.protocol, targets))
    return rules


def dns_records(services: Iterable[Service], pods: list[PodView]) -> dict[str, list[str]]:
    """Fully qualified name (no trailing dot, lower case) -> IPv4 addresses."""
    records: dict[str, list[str]] = {}
    for svc in services:
        ns = svc.metadata.namespace or "default"
        name = f"{svc.metadata.name}.{ns}.svc.{CLUSTER_DOMAIN}"
        vip = svc.spec.cluster_ip
        records[name] = [p.ip for p in endpoints(svc, pods)] if vip in (None, "None") else [vip]
    for p in pods:
        records[f"{p.ip.replace('.', '-')}.{p.namespace}.pod.{CLUSTER_DOMAIN}"] = [p.ip]
        if p.subdomain:
            records[f"{p.hostname}.{p.subdomain}.{p.namespace}.svc.{CLUSTER_DOMAIN}"] = [p.ip]
    return records


def service_env(services: Iterable[Service], namespace: str) -> dict[str, str]:
    """The {NAME}_SERVICE_HOST / _PORT variables Kubernetes gives every container; those of
    `default/kubernetes` in every namespace."""
    env: dict[str, str] = {}
    for svc in services:
        vip = svc.spec.cluster_ip
        if not vip or vip == "None":
            continue
        if (svc.metadata.namespace or "default") != namespace and not is_kubernetes(svc):
            continue
        prefix = svc.metadata.name.upper().replace("-", "_")
        env[f"{prefix}_SERVICE_HOST"] = vip
        env[f"{prefix}_SERVICE_PORT"] = str(svc.spec.ports[0].port)
    return env
