"""A container's environment as the kubelet builds it from the pod spec."""

from __future__ import annotations

import base64
from collections.abc import Mapping
from typing import Any

import pytest

from podtap.core.kube.container_env import (
    EnvSourceError,
    container_env,
    expand,
    secret_text,
    service_links,
)

DATA: dict[tuple[str, str], dict[str, str]] = {
    ("ConfigMap", "settings"): {"MODE": "fast", "bad key": "skipped", "LEVEL": "3"},
    ("Secret", "keys"): {"TOKEN": "t0k"},
}


def sources(kind: str, name: str) -> Mapping[str, str] | None:
    return DATA.get((kind, name))


def pod(*env: dict[str, Any], env_from: list[dict[str, Any]] | None = None) -> dict[str, Any]:
    container = {
        "name": "app",
        "env": list(env),
        "envFrom": env_from or [],
        "resources": {"limits": {"memory": "128Mi", "cpu": "1500m"}},
    }
    return {
        "metadata": {"name": "web-1", "namespace": "shop", "uid": "u-1", "labels": {"app": "w"}},
        "spec": {"containers": [container], "nodeName": "node-a"},
        "status": {"podIP": "10.0.0.7", "hostIP": "192.168.1.2"},
    }


def service(namespace: str, name: str, ip: str, *ports: dict[str, Any]) -> dict[str, Any]:
    return {
        "metadata": {"namespace": namespace, "name": name},
        "spec": {"clusterIP": ip, "ports": list(ports)},
    }


SERVICES = [
    service("shop", "cat-alog", "10.96.0.9", {"name": "http", "port": 80, "protocol": "TCP"}),
    service("shop", "headless", "None", {"port": 80}),
    service("other", "elsewhere", "10.96.0.8", {"port": 81}),
    service("default", "kubernetes", "10.96.0.1", {"name": "https", "port": 443}),
]


def test_expansion_follows_kubernetes() -> None:
    env = {"A": "1", "EMPTY": ""}
    assert expand("$(A)-$$(A)-$(MISSING)-$(EMPTY)-$", env) == "1-$(A)-$(MISSING)--$"


def test_service_links_of_the_namespace_and_the_api_server() -> None:
    links = service_links(SERVICES, namespace="shop")
    assert links["CAT_ALOG_SERVICE_HOST"] == "10.96.0.9"
    assert links["CAT_ALOG_SERVICE_PORT"] == "80"
    assert links["CAT_ALOG_SERVICE_PORT_HTTP"] == "80"
    assert links["CAT_ALOG_PORT"] == "tcp://10.96.0.9:80"
    assert links["CAT_ALOG_PORT_80_TCP_ADDR"] == "10.96.0.9"
    assert links["KUBERNETES_SERVICE_HOST"] == "10.96.0.1"
    assert not any(k.startswith(("HEADLESS_", "ELSEWHERE_")) for k in links)


def test_env_from_then_env_with_references_fields_and_expansion() -> None:
    spec = pod(
        {"name": "MODE", "value": "slow"},  # env wins over envFrom
        {"name": "URL", "value": "http://$(CAT_ALOG_SERVICE_HOST):$(CFG_LEVEL)/$(NOPE)"},
        {"name": "POD", "valueFrom": {"fieldRef": {"fieldPath": "metadata.name"}}},
        {"name": "IP", "valueFrom": {"fieldRef": {"fieldPath": "status.podIP"}}},
        {"name": "APP", "valueFrom": {"fieldRef": {"fieldPath": "metadata.labels['app']"}}},
        {"name": "NODE", "valueFrom": {"fieldRef": {"fieldPath": "spec.nodeName"}}},
        {"name": "MEM", "valueFrom": {"resourceFieldRef": {"resource": "limits.memory"}}},
        {
            "name": "MI",
            "valueFrom": {"resourceFieldRef": {"resource": "limits.memory", "divisor": "1Mi"}},
        },
        {"name": "CPU", "valueFrom": {"resourceFieldRef": {"resource": "limits.cpu"}}},
        {"name": "SECRET", "valueFrom": {"secretKeyRef": {"name": "keys", "key": "TOKEN"}}},
        {
            "name": "MAYBE",
            "valueFrom": {"configMapKeyRef": {"name": "gone", "key": "x", "optional": True}},
        },
    )
    spec["spec"]["containers"][0]["envFrom"] = [
        {"configMapRef": {"name": "settings"}},
        {"configMapRef": {"name": "settings"}, "prefix": "CFG_"},
        {"secretRef": {"name": "missing", "optional": True}},
    ]
    env = container_env(spec, "app", sources=sources, services=SERVICES)
    assert env["MODE"] == "slow" and env["LEVEL"] == "3" and env["CFG_MODE"] == "fast"
    assert "bad key" not in env and "CFG_bad key" not in env
    assert env["URL"] == "http://10.96.0.9:3/$(NOPE)"
    assert (env["POD"], env["IP"], env["APP"], env["NODE"]) == ("web-1", "10.0.0.7", "w", "node-a")
    assert (env["MEM"], env["MI"], env["CPU"]) == (str(128 * 2**20), "128", "2")
    assert env["SECRET"] == "t0k" and "MAYBE" not in env
    assert env["HOSTNAME"] == "web-1" and env["HOME"] == "/root" and env["PATH"]


def test_service_links_can_be_turned_off() -> None:
    spec = pod()
    spec["spec"]["enableServiceLinks"] = False
    assert "CAT_ALOG_SERVICE_HOST" not in container_env(
        spec, "app", sources=sources, services=SERVICES
    )


@pytest.mark.parametrize(
    ("var", "message"),
    [
        ({"valueFrom": {"configMapKeyRef": {"name": "gone", "key": "x"}}}, "ConfigMap 'gone'"),
        (
            {"valueFrom": {"configMapKeyRef": {"name": "settings", "key": "x"}}},
            "key 'x' not in ConfigMap 'settings'",
        ),
        ({"valueFrom": {"fieldRef": {"fieldPath": "spec.nope"}}}, "'spec.nope' is not"),
    ],
)
def test_a_missing_required_source_is_an_error(var: dict[str, Any], message: str) -> None:
    with pytest.raises(EnvSourceError, match=message):
        container_env(pod({"name": "X", **var}), "app", sources=sources, services=[])


def test_secret_data_is_decoded() -> None:
    secret = {"data": {"k": base64.b64encode(b"v").decode()}, "stringData": {"s": "t"}}
    assert secret_text(secret) == {"k": "v", "s": "t"}
