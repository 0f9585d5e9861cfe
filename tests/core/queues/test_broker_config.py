"""A broker config's properties resolved from its resources: parents, removals, Secrets and
ConfigMaps, mirrord's kind for Kafka, and every fault in one line that holds no value."""

from __future__ import annotations

import base64
from typing import Any

import pytest

from podtap.core.queues import QueueKind, parse_split_config
from podtap.core.queues.client_config import (
    BrokerConfigError,
    Source,
    find_broker_config,
    source_data,
)

NS = "podtap"
SECRET = "s3cr3t-value"


def _obj(name: str, kind: str = "PodtapBrokerConfig", **spec: Any) -> dict[str, Any]:
    return {"kind": kind, "metadata": {"name": name, "namespace": NS}, "spec": spec}


def _secret(**data: str) -> dict[str, Any]:
    return {
        "kind": "Secret",
        "data": {k: base64.b64encode(v.encode()).decode() for k, v in data.items()},
    }


def _resolve(
    name: str,
    *objs: dict[str, Any],
    kind: QueueKind = QueueKind.KAFKA,
    data: dict[Source, dict[str, str] | None] | None = None,
) -> dict[str, str]:
    objects: dict[str, list[dict[str, Any]]] = {}
    for o in objs:
        objects.setdefault(o["kind"], []).append(o)
    chain = find_broker_config(name, queue_kind=kind, namespace=NS, objects=objects)
    return chain.resolve(data or {})


def _prop(name: str, value: str | None = None, **rest: Any) -> dict[str, Any]:
    return {"name": name, "value": value, **rest}


def test_literal_properties_are_the_map() -> None:
    base = _obj("base", properties=[_prop("bootstrap.servers", "kafka:9092"), _prop("acks", "all")])
    assert _resolve("base", base) == {"bootstrap.servers": "kafka:9092", "acks": "all"}


def test_a_child_inherits_overrides_and_removes_its_parents_properties() -> None:
    base = _obj(
        "base", properties=[_prop("bootstrap.servers", "kafka:9092"), _prop("retries", "4")]
    )
    child = _obj(
        "with-client-id",
        parent="base",
        properties=[_prop("client.id", "podtap"), {"name": "retries"}],
    )
    grandchild = _obj("gc", parent="with-client-id", properties=[_prop("client.id", "other")])
    assert _resolve("with-client-id", base, child) == {
        "bootstrap.servers": "kafka:9092",
        "client.id": "podtap",
    }
    assert _resolve("gc", base, child, grandchild)["client.id"] == "other"


def test_priority_is_child_properties_child_secret_parent_properties_parent_secret() -> None:
    base = _obj("base", loadFromSecret=f"{NS}/base-creds", properties=[_prop("a", "base-prop")])
    child = _obj("child", parent="base", loadFromSecret="child-creds",
                 properties=[_prop("d", "child-prop")])  # fmt: skip
    data: dict[Source, dict[str, str] | None] = {
        ("Secret", "base-creds"): {"a": "base-secret", "b": "base-secret", "c": "base-secret"},
        ("Secret", "child-creds"): {"b": "child-secret", "d": "child-secret"},
    }
    chain = find_broker_config(
        "child", queue_kind=QueueKind.SQS, namespace=NS,
        objects={"PodtapBrokerConfig": [base, child]},
    )  # fmt: skip
    assert chain.sources() == [("Secret", "base-creds"), ("Secret", "child-creds")]
    assert chain.resolve(data) == {
        "a": "base-prop", "b": "child-secret", "c": "base-secret", "d": "child-prop",
    }  # fmt: skip


def test_value_from_reads_one_key_of_a_secret_or_a_config_map() -> None:
    password = {"secretKeyRef": {"name": "kafka-creds", "key": "password"}}
    servers = {"configMapKeyRef": {"name": "kafka", "key": "servers"}}
    props = [
        _prop("sasl.password", valueFrom=password),
        _prop("bootstrap.servers", valueFrom=servers),
    ]
    data: dict[Source, dict[str, str] | None] = {
        ("Secret", "kafka-creds"): source_data("Secret", _secret(password=SECRET)),
        ("ConfigMap", "kafka"): source_data("ConfigMap", {"data": {"servers": "k:9092"}}),
    }
    got = _resolve("kafka", _obj("kafka", properties=props), data=data)
    assert got == {"sasl.password": SECRET, "bootstrap.servers": "k:9092"}


def test_mirrords_kafka_client_config_serves_kafka_and_podtaps_kind_wins() -> None:
    mirrord = _obj("base", "MirrordKafkaClientConfig", properties=[_prop("from", "mirrord")])
    podtap = _obj("base", properties=[_prop("from", "podtap")])
    assert _resolve("base", mirrord) == {"from": "mirrord"}
    assert _resolve("base", mirrord, podtap) == {"from": "podtap"}
    with pytest.raises(BrokerConfigError, match=r"^no PodtapBrokerConfig 'base' in the operator"):
        _resolve("base", mirrord, kind=QueueKind.SQS)


def _fault(
    name: str, *objs: dict[str, Any], data: dict[Source, dict[str, str] | None] | None = None
) -> str:
    with pytest.raises(BrokerConfigError) as caught:
        _resolve(name, *objs, data=data)
    message = str(caught.value)
    assert "\n" not in message and SECRET not in message
    return message


def test_faults_name_the_resource_and_what_is_wrong() -> None:
    assert _fault("kafka-base", _obj("kafka-base", parent="base")) == (
        "PodtapBrokerConfig kafka-base: parent 'base' not found"
    )
    assert _fault("a", _obj("a", parent="b"), _obj("b", parent="a")) == (
        "PodtapBrokerConfig b: parent 'a' is a cycle (a -> b -> a)"
    )
    assert "MirrordKafkaClientConfig" in _fault("nope")
    secret_ref = {"secretKeyRef": {"name": "kafka-creds", "key": "password"}}
    uses = _obj("kafka", properties=[_prop("sasl.password", valueFrom=secret_ref)])
    assert _fault("kafka", uses, data={("Secret", "kafka-creds"): {"user": SECRET}}) == (
        "PodtapBrokerConfig kafka: secret podtap/kafka-creds has no key 'password'"
    )
    assert _fault("kafka", uses) == "PodtapBrokerConfig kafka: secret podtap/kafka-creds not found"
    other = _obj("kafka", loadFromSecret="default/creds")
    assert "reads Secrets only in its own namespace 'podtap'" in _fault("kafka", other)


def test_a_bad_spec_is_one_line_naming_its_field() -> None:
    both = _obj(
        "x", properties=[_prop("a", "1", valueFrom={"secretKeyRef": {"name": "s", "key": "k"}})]
    )
    assert _fault("x", both) == (
        "PodtapBrokerConfig x: spec.properties[0]: give at most one of value or valueFrom"
    )
    assert _fault("x", _obj("x", propertys=[])) == (
        "PodtapBrokerConfig x: spec.propertys: not a known field (check its spelling)"
    )
    neither = _obj("x", properties=[_prop("a", valueFrom={})])
    assert "exactly one of configMapKeyRef or secretKeyRef" in _fault("x", neither)


def _split(client_config: object) -> dict[str, Any]:
    return {
        "targetRef": {"kind": "Deployment", "name": "c"},
        "queues": [{"id": "q", "kind": "kafka", "clientConfig": client_config,
                    "appConfig": {"env": "TOPIC"}}],
    }  # fmt: skip


def test_a_split_configs_client_config_is_inline_or_a_name() -> None:
    (named,) = parse_split_config(_split("kafka-base")).queues
    assert (named.client_config_name, named.client_config) == ("kafka-base", {})
    (inline,) = parse_split_config(_split({"bootstrap.servers": "k:9092"})).queues
    assert (inline.client_config_name, inline.client_config) == (
        None,
        {"bootstrap.servers": "k:9092"},
    )
    with pytest.raises(ValueError, match=r"^spec.queues\[0\]: clientConfig: must be"):
        parse_split_config(_split(["a"]))
