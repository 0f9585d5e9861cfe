"""What the chart refuses: bad values (values.schema.json and the templates' own checks), and
PodtapSession objects its CRD's schema does not admit."""

from __future__ import annotations

import datetime
import functools
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import jsonschema
import pytest
import yaml

from tests.chart.cases import SAMPLES
from tests.chart.render import CHART, Obj, one, refusal, render, template

BAD_VALUES: list[tuple[Obj, str]] = [
    ({"replicas": 0}, "at '/replicas': minimum: got 0, want 1"),
    ({"replicas": "2"}, "at '/replicas': got string, want integer"),
    ({"replica": 2}, "at '': additional properties 'replica' not allowed"),
    ({"agent": {"imge": {}}}, "at '/agent': additional properties 'imge' not allowed"),
    (
        {"metrics": {"serviceMonitor": {"port": 1}}},
        "at '/metrics/serviceMonitor': additional properties 'port' not allowed",
    ),
    (
        {"image": {"pullPolicy": "Sometimes"}},
        "at '/image/pullPolicy': value must be one of 'Always', 'IfNotPresent', 'Never'",
    ),
    (
        {"agent": {"image": {"pullPolicy": "always"}}},
        "at '/agent/image/pullPolicy': value must be one of '', 'Always', 'IfNotPresent', 'Never'",
    ),
    ({"agent": {"port": 70000}}, "at '/agent/port': maximum: got 70,000, want 65,535"),
    ({"agent": {"ephemeral": "yes"}}, "at '/agent/ephemeral': got string, want boolean"),
    ({"agent": {"linger": -1}}, "at '/agent/linger': minimum: got -1, want 0"),
    ({"sessions": {"unusedTtl": 3}}, "at '/sessions/unusedTtl': minimum: got 3, want 6"),
    ({"sessions": {"maxTime": 0}}, "at '/sessions/maxTime': exclusiveMinimum: got 0, want 0"),
    ({"logLevel": "verbose"}, "at '/logLevel': value must be one of 'debug', 'info'"),
    ({"roleNamespaces": "shop"}, "at '/roleNamespaces': got string, want array"),
    ({"roleNamespaces": ["Shop"]}, "at '/roleNamespaces/0': 'Shop' does not match pattern"),
    ({"image": {"registry": "https://r.example"}}, "at '/image/registry': 'https://r.example'"),
    ({"imagePullSecrets": [{"name": "x"}]}, "at '/imagePullSecrets/0': got object, want string"),
]


@pytest.mark.parametrize(("values", "message"), BAD_VALUES, ids=[m for _, m in BAD_VALUES])
def test_schema_refuses_bad_values_saying_where_and_why(values: Obj, message: str) -> None:
    error = refusal(values)
    assert "values don't meet the specifications of the schema" in error
    assert message in error


def test_tls_secret_without_its_ca_is_refused_in_one_line() -> None:
    error = refusal({"tls": {"secretName": "mine"}})
    assert "tls.secretName is set but tls.caBundle is empty" in error
    render({"tls": {"secretName": "mine"}, "apiService": {"enabled": False}})


def test_agent_service_account_needs_a_namespace_and_a_name_of_its_own() -> None:
    error = refusal({"agent": {"serviceAccount": {"create": True, "name": "podtap-agent"}}})
    assert "agent.serviceAccount.create needs agent.namespace or roleNamespaces" in error
    error = refusal({"agent": {"namespace": "a", "serviceAccount": {"create": True}}})
    assert 'give it a name other than "default"' in error


def test_kubernetes_older_than_1_30_is_refused_and_1_30_accepted() -> None:
    error = refusal({}, "--kube-version", "1.29.9")
    assert "chart requires kubeVersion: >=1.30.0-0 which is incompatible with Kubernetes" in error
    assert template({}, "--kube-version", "1.30.0").returncode == 0


def _strict(schema: Any) -> Any:
    """The schema as the API server applies it with fieldValidation=Strict: unknown fields
    refused, except under x-kubernetes-preserve-unknown-fields."""
    if not isinstance(schema, dict):
        return schema
    out = {k: _strict(v) if k == "items" else v for k, v in schema.items()}
    if "properties" in schema:
        out["properties"] = {k: _strict(v) for k, v in schema["properties"].items()}
        if not schema.get("x-kubernetes-preserve-unknown-fields"):
            out["additionalProperties"] = False
    return out


def _date_time(value: object) -> bool:
    if not isinstance(value, str) or "T" not in value:
        return False
    try:
        return datetime.datetime.fromisoformat(value).tzinfo is not None
    except ValueError:
        return False


@functools.cache
def _session_validator() -> jsonschema.Draft7Validator:
    crd = one(render({}), "CustomResourceDefinition", "podtapsessions.podtap.dev")
    [version] = crd["spec"]["versions"]
    checker = jsonschema.FormatChecker(formats=())
    checker.checks("date-time")(_date_time)
    return jsonschema.Draft7Validator(
        _strict(version["schema"]["openAPIV3Schema"]), format_checker=checker
    )


def _sample(path: Path) -> Obj:
    loaded: Obj = yaml.safe_load(path.read_text())
    return loaded


@pytest.mark.parametrize("path", sorted(SAMPLES.glob("*.yaml")), ids=lambda p: p.stem)
def test_sample_sessions_are_admitted_by_the_crd(path: Path) -> None:
    _session_validator().validate(_sample(path))


@pytest.mark.parametrize("path", sorted(SAMPLES.glob("bad/*.yaml")), ids=lambda p: p.stem)
def test_bad_sessions_are_refused_by_the_crd(path: Path) -> None:
    expected = path.read_text().splitlines()[0].removeprefix("# refused: ")
    errors = [e.message for e in _session_validator().iter_errors(_sample(path))]
    assert errors == [expected]


def test_printer_columns_show_who_uses_what() -> None:
    crd = one(render({}), "CustomResourceDefinition", "podtapsessions.podtap.dev")
    spec = crd["spec"]
    assert (spec["scope"], spec["names"]["shortNames"], spec["names"]["categories"]) == (
        "Cluster",
        ["pts"],
        ["podtap"],
    )
    [version] = spec["versions"]
    assert version["subresources"] == {"status": {}}
    default = [c["name"] for c in version["additionalPrinterColumns"] if not c.get("priority")]
    assert default == ["User", "Target", "Namespace", "Mode", "State", "Age"]


def _leaves(values: Obj, schema: Obj, prefix: str = "") -> Iterator[str]:
    """Dotted paths of values.yaml's options: down to where the schema stops naming keys (or
    to `resources`, a container's resources as Kubernetes has them)."""
    for key, value in values.items():
        path = f"{prefix}{key}"
        below = schema["properties"][key]
        if isinstance(value, dict) and "properties" in below and key != "resources":
            yield from _leaves(value, below, f"{path}.")
        else:
            yield path


def test_values_yaml_schema_and_readme_name_the_same_options() -> None:
    values = yaml.safe_load((CHART / "values.yaml").read_text())
    schema = json.loads((CHART / "values.schema.json").read_text())
    options = list(_leaves(values, schema))
    assert sorted(options) == sorted(_leaves(_skeleton(schema), schema))
    readme = (CHART / "README.md").read_text()
    assert [o for o in options if f"`{o}`" not in readme] == []


def _skeleton(schema: Obj) -> Obj:
    """A values tree with every key the schema names (so none is missing from values.yaml)."""
    return {
        key: _skeleton(sub) if "properties" in sub and key != "resources" else None
        for key, sub in schema["properties"].items()
    }
