"""Endpoints, NAT rules, DNS records and service env of the embedded local cluster (pure)."""

from __future__ import annotations

from typing import Any

import pytest

from podtap.backends.local.manifests import Service
from podtap.backends.local.network import ServiceRule
from podtap.backends.local.services import (
    PodView,
    dns_records,
    endpoints,
    service_env,
    service_rules,
)


def _svc(
    name: str,
    *,
    selector: dict[str, str] | None = None,
    ports: list[dict[str, Any]] | None = None,
    cluster_ip: str | None = None,
    namespace: str | None = None,
) -> Service:
    spec: dict[str, Any] = {"ports": ports or [{"port": 80}]}
    if selector is not None:
        spec["selector"] = selector
    if cluster_ip is not None:
        spec["clusterIP"] = cluster_ip
    meta = {"name": name} | ({"namespace": namespace} if namespace else {})
    return Service.model_validate(
        {"apiVersion": "v1", "kind": "Service", "metadata": meta, "spec": spec}
    )


def _pod(
    name: str,
    ip: str,
    *,
    labels: dict[str, str] | None = None,
    ready: bool = True,
    ports: dict[str, int] | None = None,
    namespace: str = "default",
    hostname: str | None = None,
    subdomain: str | None = None,
) -> PodView:
    return PodView(
        namespace,
        name,
        ip,
        {"app": "web"} if labels is None else labels,
        ready,
        ports or {},
        hostname or name,
        subdomain,
    )


WEB = _svc("web", selector={"app": "web"}, cluster_ip="10.96.0.10")


def test_endpoints_are_ready_matching_pods_of_the_namespace_sorted_by_ip() -> None:
    pods = [
        _pod("c", "10.244.0.10"),
        _pod("a", "10.244.0.9"),
        _pod("b", "10.244.1.2"),
        _pod("not-ready", "10.244.0.3", ready=False),
        _pod("other-app", "10.244.0.4", labels={"app": "db"}),
        _pod("no-labels", "10.244.0.5", labels={}),
        _pod("elsewhere", "10.244.0.6", namespace="team"),
        _pod("more-labels", "10.244.0.7", labels={"app": "web", "tier": "front"}),
    ]
    assert [p.name for p in endpoints(WEB, pods)] == ["more-labels", "a", "c", "b"]


@pytest.mark.parametrize(
    ("selector", "expected"),
    [
        ({"app": "web", "tier": "front"}, ["front"]),
        ({"tier": "front"}, ["front"]),
        ({"app": "web"}, ["plain", "front"]),
        ({"app": "nope"}, []),
        ({}, []),  # a service without selector has no automatic endpoints
        (None, []),
    ],
)
def test_endpoint_selectors(selector: dict[str, str] | None, expected: list[str]) -> None:
    pods = [
        _pod("plain", "10.244.0.2"),
        _pod("front", "10.244.0.3", labels={"app": "web", "tier": "front"}),
    ]
    svc = _svc("web", selector=selector, cluster_ip="10.96.0.10")
    assert [p.name for p in endpoints(svc, pods)] == expected


def test_endpoints_of_a_service_in_another_namespace() -> None:
    svc = _svc("web", selector={"app": "web"}, namespace="team")
    pods = [_pod("a", "10.244.0.2"), _pod("b", "10.244.0.3", namespace="team")]
    assert [p.name for p in endpoints(svc, pods)] == ["b"]


def test_service_rules_per_port_with_numeric_named_and_default_target_ports() -> None:
    svc = _svc(
        "web",
        selector={"app": "web"},
        cluster_ip="10.96.0.10",
        ports=[
            {"port": 80, "targetPort": "http"},
            {"port": 443, "targetPort": 8443},
            {"port": 9000},
            {"port": 53, "protocol": "UDP", "targetPort": "dns"},
        ],
    )
    pods = [
        _pod("b", "10.244.0.3", ports={"http": 8081}),
        _pod("a", "10.244.0.2", ports={"http": 8080, "dns": 5353}),
        _pod("down", "10.244.0.4", ports={"http": 8080}, ready=False),
    ]
    assert service_rules([svc], pods) == [
        ServiceRule("10.96.0.10", 80, "TCP", (("10.244.0.2", 8080), ("10.244.0.3", 8081))),
        ServiceRule("10.96.0.10", 443, "TCP", (("10.244.0.2", 8443), ("10.244.0.3", 8443))),
        ServiceRule("10.96.0.10", 9000, "TCP", (("10.244.0.2", 9000), ("10.244.0.3", 9000))),
        ServiceRule("10.96.0.10", 53, "UDP", (("10.244.0.2", 5353),)),
    ]


@pytest.mark.parametrize("cluster_ip", ["None", None])
def test_no_rules_for_headless_services_or_without_cluster_ip(cluster_ip: str | None) -> None:
    svc = _svc("db", selector={"app": "web"}, cluster_ip=cluster_ip)
    assert service_rules([svc], [_pod("a", "10.244.0.2")]) == []


def test_service_without_ready_endpoints_still_gets_a_rule() -> None:
    pods = [_pod("a", "10.244.0.2", ready=False)]
    assert service_rules([WEB], pods) == [ServiceRule("10.96.0.10", 80, "TCP", ())]


def test_dns_records() -> None:
    services = [
        WEB,
        _svc("db", selector={"app": "db"}, cluster_ip="None", namespace="data"),
        _svc("empty", selector={"app": "none"}, cluster_ip="None"),
        _svc("api", selector={"app": "api"}, cluster_ip="10.96.0.11", namespace="team"),
    ]
    pods = [
        _pod("web-1", "10.244.0.2"),
        _pod("db-1", "10.244.0.5", labels={"app": "db"}, namespace="data", hostname="db-1",
             subdomain="db"),
        _pod("db-0", "10.244.0.4", labels={"app": "db"}, namespace="data", hostname="db-0",
             subdomain="db"),
        _pod("db-2", "10.244.0.6", labels={"app": "db"}, namespace="data", ready=False),
    ]  # fmt: skip
    assert dns_records(services, pods) == {
        "web.default.svc.cluster.local": ["10.96.0.10"],
        "db.data.svc.cluster.local": ["10.244.0.4", "10.244.0.5"],
        "empty.default.svc.cluster.local": [],
        "api.team.svc.cluster.local": ["10.96.0.11"],
        "10-244-0-2.default.pod.cluster.local": ["10.244.0.2"],
        "10-244-0-5.data.pod.cluster.local": ["10.244.0.5"],
        "10-244-0-4.data.pod.cluster.local": ["10.244.0.4"],
        "10-244-0-6.data.pod.cluster.local": ["10.244.0.6"],
        "db-1.db.data.svc.cluster.local": ["10.244.0.5"],
        "db-0.db.data.svc.cluster.local": ["10.244.0.4"],
    }


def test_dns_records_of_nothing() -> None:
    assert dns_records([], []) == {}


def test_service_env_only_for_services_with_a_cluster_ip_in_the_namespace() -> None:
    services = [
        WEB,
        _svc("payment-api", cluster_ip="10.96.0.12", ports=[{"port": 8080}, {"port": 9090}]),
        _svc("db", cluster_ip="None"),
        _svc("pending"),
        _svc("api", cluster_ip="10.96.0.11", namespace="team"),
    ]
    assert service_env(services, "default") == {
        "WEB_SERVICE_HOST": "10.96.0.10",
        "WEB_SERVICE_PORT": "80",
        "PAYMENT_API_SERVICE_HOST": "10.96.0.12",
        "PAYMENT_API_SERVICE_PORT": "8080",
    }
    assert service_env(services, "team") == {
        "API_SERVICE_HOST": "10.96.0.11",
        "API_SERVICE_PORT": "80",
    }
    assert service_env(services, "nowhere") == {}
