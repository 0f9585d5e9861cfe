"""The chart's split config and broker config CRDs: written from the models, switched like the
policy kinds, and every example of examples/queues valid against the rendered schema and the
operator's models (each clientConfig the examples name resolves); the operator's role may
read them, get Secrets and ConfigMaps in its own namespace only, and write the workloads it
patches."""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import jsonschema
import pytest
import yaml

from podtap.backends.local.kubeapi.app import Running
from podtap.core.queues import QueueKind, SplitConfig, parse_split_config
from podtap.core.queues.client_config import BrokerConfigSpec, find_broker_config
from podtap.core.queues.crds import BROKER_KINDS, SPLIT_KINDS, definitions
from tests.chart.render import FULLNAME, NAMESPACE, Obj, kinds, render
from tests.kubeapi.cli import run
from tests.kubeapi.server import in_thread, tools

ROOT = Path(__file__).parents[2]
EXAMPLES = sorted((ROOT / "examples" / "queues").glob("*.yaml"))
MIRRORD = {
    "mirrordsplitconfigs.queues.mirrord.metalbear.co",
    "mirrordkafkaclientconfigs.queues.mirrord.metalbear.co",
}
MANIFESTS = [m for p in EXAMPLES for m in yaml.safe_load_all(p.read_text())]
SPLITS = [m for m in MANIFESTS if m["kind"] in {k.kind for k in SPLIT_KINDS}]
BROKERS = [m for m in MANIFESTS if m["kind"] in {k.kind for k in BROKER_KINDS}]


def _crds(objs: tuple[Obj, ...]) -> dict[str, Obj]:
    return {
        o["metadata"]["name"]: o
        for o in kinds(objs, "CustomResourceDefinition")
        if o["metadata"]["name"] in definitions()
    }


def _json_schema(node: Any) -> Any:
    """An openAPIV3Schema as JSON Schema: ``nullable`` a ``null`` type, ``exclusiveMinimum``
    a number."""
    if isinstance(node, list):
        return [_json_schema(n) for n in node]
    if not isinstance(node, dict):
        return node
    out = {k: _json_schema(v) for k, v in node.items() if k != "nullable"}
    if node.get("nullable") and "type" in node:
        out["type"] = [node["type"], "null"]
    if node.get("exclusiveMinimum") is True:
        out["exclusiveMinimum"] = out.pop("minimum")
    return out


def _schema_of(manifest: Obj) -> Any:
    group, version = manifest["apiVersion"].split("/")
    for crd in _crds(render({})).values():
        if crd["spec"]["group"] == group and crd["spec"]["names"]["kind"] == manifest["kind"]:
            (v,) = [v for v in crd["spec"]["versions"] if v["name"] == version]
            return _json_schema(v["schema"]["openAPIV3Schema"])
    raise AssertionError(f"no CRD in the chart for {manifest['apiVersion']} {manifest['kind']}")


def test_rendered_crds_are_the_model() -> None:
    got = _crds(render({}))
    assert sorted(got) == sorted(definitions())
    for name, crd in got.items():
        assert {**crd, "metadata": {"name": crd["metadata"]["name"]}} == definitions()[name]


def test_templates_are_up_to_date_with_the_model() -> None:
    done = subprocess.run(
        [sys.executable, str(ROOT / "scripts" / "policy-crds"), "--check"],
        capture_output=True, text=True, timeout=60, check=False,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr


def test_mirrords_kind_follows_crds_mirrord() -> None:
    assert set(_crds(render({"crds": {"mirrord": False}}))) == set(definitions()) - MIRRORD
    assert _crds(render({"crds": {"install": False}})) == {}
    for name in MIRRORD:
        assert _crds(render({}))[name]["spec"]["versions"][0]["name"] == "v1alpha"


def test_the_schema_uses_openapis_exclusive_minimum() -> None:
    spec = definitions()["podtapsplitconfigs.queues.podtap.dev"]["spec"]
    props = spec["versions"][0]["schema"]["openAPIV3Schema"]["properties"]["spec"]["properties"]
    assert props["drainTimeout"] == {"minimum": 0, "exclusiveMinimum": True, "type": "number"}


def test_there_is_an_example_per_broker() -> None:
    assert {q["kind"] for m in SPLITS for q in m["spec"]["queues"]} == {"sqs", "rmq", "kafka"}
    assert BROKERS, "an example of a broker config"


@pytest.mark.parametrize("path", EXAMPLES, ids=lambda p: p.name)
def test_example_validates_against_the_rendered_schema(path: Path) -> None:
    for manifest in yaml.safe_load_all(path.read_text()):
        jsonschema.validate(manifest, _schema_of(manifest))
        if manifest in BROKERS:
            assert isinstance(BrokerConfigSpec.model_validate(manifest["spec"]), BrokerConfigSpec)
        else:
            assert isinstance(parse_split_config(manifest["spec"]), SplitConfig)


def test_every_client_config_the_examples_name_resolves() -> None:
    objects: dict[str, list[Obj]] = {}
    for manifest in BROKERS:
        assert manifest["metadata"]["namespace"] == "podtap"  # the operator's, as installed
        objects.setdefault(manifest["kind"], []).append(manifest)
    named = [
        q for m in SPLITS for q in parse_split_config(m["spec"]).queues if q.client_config_name
    ]
    assert {q.kind for q in named} == {QueueKind.RMQ, QueueKind.KAFKA}
    resolved = {}
    for queue in named:
        chain = find_broker_config(
            str(queue.client_config_name), queue_kind=queue.kind, namespace="podtap",
            objects=objects,
        )  # fmt: skip
        secrets = {s: {"url": "amqp://u:p@rabbitmq.shop.svc:5672/"} for s in chain.sources()}
        resolved[queue.id] = chain.resolve(secrets)
    assert resolved == {
        "payments": {"url": "amqp://u:p@rabbitmq.shop.svc:5672/"},
        "events": {"bootstrap.servers": "kafka.shop.svc:9092", "group.id": "events-processor"},
    }


def test_the_schema_refuses_what_the_model_refuses() -> None:
    schema = _schema_of({"apiVersion": "queues.podtap.dev/v1alpha1", "kind": "PodtapSplitConfig"})
    good = next(m for m in SPLITS if m["kind"] == "PodtapSplitConfig")
    bad = {**good, "spec": {**good["spec"], "drainTimeout": 0}}
    with pytest.raises(jsonschema.ValidationError, match="less than or equal to the minimum"):
        jsonschema.validate(bad, schema)
    queue = {**good["spec"]["queues"][0], "kind": "nats"}
    with pytest.raises(jsonschema.ValidationError, match="nats"):
        jsonschema.validate({**good, "spec": {**good["spec"], "queues": [queue]}}, schema)


def _rules(objs: tuple[Obj, ...]) -> list[Obj]:
    (role,) = [o for o in kinds(objs, "ClusterRole") if o["metadata"]["name"] == FULLNAME]
    rules: list[Obj] = role["rules"]
    return rules


def _allows(rules: list[Obj], group: str, resource: str, verb: str) -> bool:
    return any(
        group in r.get("apiGroups", [])
        and (resource in r["resources"] or "*" in r["resources"])
        and (verb in r["verbs"] or "*" in r["verbs"])
        for r in rules
    )


@pytest.mark.parametrize("kind", [*SPLIT_KINDS, *BROKER_KINDS], ids=lambda k: k.kind)
@pytest.mark.parametrize("values", [{}, {"roleNamespaces": ["shop"]}], ids=["cluster", "roles"])
def test_the_operator_reads_split_and_broker_configs(kind: Any, values: Obj) -> None:
    rules = _rules(render(values))
    assert all(_allows(rules, kind.group, kind.plural, v) for v in ("get", "list", "watch"))


@pytest.mark.parametrize("values", [{}, {"roleNamespaces": ["shop"]}], ids=["cluster", "roles"])
def test_the_operator_gets_secrets_and_config_maps_in_its_own_namespace_only(values: Obj) -> None:
    objs = render(values)
    name = f"{FULLNAME}-leader"  # the role of what it does in its own namespace
    (role,) = [r for r in kinds(objs, "Role") if r["metadata"]["name"] == name]
    assert role["metadata"]["namespace"] == NAMESPACE
    secrets = [r for r in role["rules"] if "secrets" in r["resources"]]
    assert secrets == [{"apiGroups": [""], "resources": ["secrets", "configmaps"],
                        "verbs": ["get"]}]  # fmt: skip
    (binding,) = [b for b in kinds(objs, "RoleBinding") if b["metadata"]["name"] == name]
    assert binding["roleRef"]["name"] == name
    assert binding["subjects"][0]["name"] == FULLNAME
    for other in [*kinds(objs, "ClusterRole"), *kinds(objs, "Role")]:
        if other is not role and other["metadata"]["name"].startswith(FULLNAME):
            assert not _allows(other["rules"], "", "secrets", "get"), other["metadata"]["name"]


@pytest.mark.parametrize("resource", ["deployments", "statefulsets"])
def test_the_operator_writes_the_workloads_it_splits(resource: str) -> None:
    rules = _rules(render({}))
    assert all(_allows(rules, "apps", resource, v) for v in ("get", "patch", "update"))


@pytest.fixture(scope="module")
def api() -> Iterator[Running]:
    with in_thread() as running:
        yield running


def test_kubectl_applies_every_example_to_the_charts_crds(api: Running) -> None:
    kubectl = tools() / "kubectl"
    crds = yaml.safe_dump_all(list(_crds(render({})).values()))
    run(kubectl, api, "apply", "-f", "-", stdin=crds)
    try:
        run(kubectl, api, "create", "namespace", "shop")
        run(kubectl, api, "create", "namespace", "podtap")
        for path in EXAMPLES:
            run(kubectl, api, "apply", "-f", str(path))
        got = run(kubectl, api, "get", "podtapsplitconfigs", "-n", "shop", "-o", "name").stdout
        assert sorted(got.split()) == [
            "podtapsplitconfig.queues.podtap.dev/orders-consumer",
            "podtapsplitconfig.queues.podtap.dev/payments-worker",
        ]
        got = run(kubectl, api, "get", "podtapbrokerconfigs", "-n", "podtap", "-o", "name").stdout
        assert sorted(got.split()) == [
            f"podtapbrokerconfig.queues.podtap.dev/{n}"
            for n in ("events-kafka", "kafka-base", "payments-rabbitmq")
        ]
        stored = run(kubectl, api, "get", "mirrordsplitconfig", "-n", "shop", "events-processor",
                     "-o", "json").stdout  # fmt: skip
        assert '"clientConfig": "events-kafka"' in stored  # a name, kept as it was given
        mirrord = (
            "apiVersion: queues.mirrord.metalbear.co/v1alpha\nkind: MirrordKafkaClientConfig\n"
            "metadata: {name: base-config, namespace: podtap}\nspec: {loadFromSecret: "
            "podtap/my-secret, properties: [{name: bootstrap.servers, value: 'k:9092'}, "
            "{name: message.send.max.retries, value: null}]}\n"
        )
        run(kubectl, api, "apply", "-f", "-", stdin=mirrord)
        bad_ref = (
            "apiVersion: queues.podtap.dev/v1alpha1\nkind: PodtapBrokerConfig\n"
            "metadata: {name: bad, namespace: podtap}\nspec: {properties: [{value: x}]}\n"
        )
        done = run(kubectl, api, "apply", "-f", "-", stdin=bad_ref, ok=False)
        assert done.returncode != 0 and "name" in done.stderr
        bad = (
            "apiVersion: queues.podtap.dev/v1alpha1\nkind: PodtapSplitConfig\n"
            "metadata: {name: bad, namespace: shop}\nspec: {targetRef: {kind: Deployment, "
            "name: x}, queues: [{id: q, kind: nats, appConfig: {env: Q}}]}\n"
        )
        done = run(kubectl, api, "apply", "-f", "-", stdin=bad, ok=False)
        assert done.returncode != 0 and "nats" in done.stderr
    finally:
        run(kubectl, api, "delete", "namespace", "shop", "--wait=false", ok=False)
        run(kubectl, api, "delete", "namespace", "podtap", "--wait=false", ok=False)
        run(kubectl, api, "delete", "-f", "-", "--wait=false", stdin=crds, ok=False)
