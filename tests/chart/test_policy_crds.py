"""The chart's policy and profile CRDs: written from the models, and every example valid.

The rendered CRDs must equal what podtap/core/policy/crds.py makes of the models (so they
cannot drift), ``crds.mirrord`` and ``crds.install`` switch them, and every manifest of
examples/policies validates against the rendered openAPIV3Schema of its kind and loads into
the model the operator uses.
"""

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
from podtap.core.policy.crds import KINDS, definitions
from podtap.core.policy.models import PolicySpec, parse_policy_spec, parse_profile_spec
from tests.chart.render import Obj, kinds, render
from tests.kubeapi.cli import run
from tests.kubeapi.server import in_thread, tools

ROOT = Path(__file__).parents[2]
EXAMPLES = sorted((ROOT / "examples" / "policies").glob("*.yaml"))
DOCS = ROOT / "docs" / "policies.md"
DOC_EXAMPLES = [b.split("```", 1)[0] for b in DOCS.read_text().split("```yaml\n")[1:]]
MIRRORD = {f"{k.plural}.{k.group}" for k in KINDS if k.mirrord}


def _crds(objs: tuple[Obj, ...]) -> dict[str, Obj]:
    return {
        o["metadata"]["name"]: o
        for o in kinds(objs, "CustomResourceDefinition")
        if o["metadata"]["name"] in definitions()
    }


def _json_schema(node: Any) -> Any:
    """An openAPIV3Schema as JSON Schema: ``nullable`` becomes a ``null`` type."""
    if isinstance(node, list):
        return [_json_schema(n) for n in node]
    if not isinstance(node, dict):
        return node
    out = {k: _json_schema(v) for k, v in node.items() if k != "nullable"}
    if node.get("nullable") and "type" in node:
        out["type"] = [node["type"], "null"]
    return out


def _schema_of(manifest: Obj) -> Obj:
    group, version = manifest["apiVersion"].split("/")
    for crd in _crds(render({})).values():
        if crd["spec"]["group"] == group and crd["spec"]["names"]["kind"] == manifest["kind"]:
            (v,) = [v for v in crd["spec"]["versions"] if v["name"] == version]
            schema: Obj = v["schema"]["openAPIV3Schema"]
            return schema
    raise AssertionError(f"no CRD in the chart for {manifest['apiVersion']} {manifest['kind']}")


def test_rendered_crds_are_the_models() -> None:
    got = _crds(render({}))
    assert sorted(got) == sorted(definitions())
    for name, crd in got.items():
        meta = crd["metadata"]
        assert meta["labels"]["app.kubernetes.io/name"] == "podtap-operator"
        assert {**crd, "metadata": {"name": meta["name"]}} == definitions()[name], name


def test_templates_are_up_to_date_with_the_models() -> None:
    done = subprocess.run(
        [sys.executable, str(ROOT / "scripts" / "policy-crds"), "--check"],
        capture_output=True, text=True, timeout=60, check=False,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr


def test_mirrord_kinds_follow_crds_mirrord_and_all_follow_crds_install() -> None:
    assert set(_crds(render({}))) >= MIRRORD
    assert set(_crds(render({"crds": {"mirrord": False}}))) == set(definitions()) - MIRRORD
    assert _crds(render({"crds": {"install": False}})) == {}


def test_the_mirrord_crds_keep_mirrords_names_and_scopes() -> None:
    got = _crds(render({}))
    assert got["mirrordpolicies.policies.mirrord.metalbear.co"]["spec"]["scope"] == "Namespaced"
    assert got["mirrordclusterpolicies.policies.mirrord.metalbear.co"]["spec"]["scope"] == "Cluster"
    versions = {crd["spec"]["versions"][0]["name"] for n, crd in got.items() if n in MIRRORD}
    assert versions == {"v1alpha"}


def _valid(text: str) -> None:
    for manifest in yaml.safe_load_all(text):
        jsonschema.validate(manifest, _json_schema(_schema_of(manifest)))
        name = manifest["metadata"]["name"]
        if "Policy" in manifest["kind"]:
            assert isinstance(parse_policy_spec(manifest["spec"], name=name), PolicySpec)
        else:
            parse_profile_spec(manifest["spec"], name=name)


@pytest.mark.parametrize("path", EXAMPLES, ids=lambda p: p.name)
def test_example_validates_against_the_rendered_schema(path: Path) -> None:
    _valid(path.read_text())


@pytest.mark.parametrize("text", DOC_EXAMPLES, ids=lambda t: t.split("kind: ")[1].split()[0])
def test_the_docs_examples_validate_against_the_rendered_schema(text: str) -> None:
    _valid(text)


def test_the_schema_refuses_what_the_model_refuses() -> None:
    schema = _json_schema(_schema_of({"apiVersion": "policies.podtap.dev/v1alpha1",
                                      "kind": "PodtapPolicy"}))  # fmt: skip
    bad = {"spec": {"block": ["steal-everything"]}}
    with pytest.raises(jsonschema.ValidationError, match="steal-everything"):
        jsonschema.validate(bad, schema)
    port = {
        "spec": {"network": {"outgoing": {"block": [{"ports": [{"protocol": "SCTP", "port": 1}]}]}}}
    }
    with pytest.raises(jsonschema.ValidationError, match="SCTP"):
        jsonschema.validate(port, schema)


@pytest.fixture(scope="module")
def api() -> Iterator[Running]:
    with in_thread() as running:
        yield running


def test_kubectl_applies_every_example_to_the_charts_crds(api: Running) -> None:
    """The CRDs as helm renders them, on an API server, take every example with kubectl
    (a mirrord policy file as it is) and refuse a policy with a field mirrord does not have."""
    kubectl = tools() / "kubectl"
    crds = yaml.safe_dump_all(list(_crds(render({})).values()))
    run(kubectl, api, "apply", "-f", "-", stdin=crds)
    try:
        run(kubectl, api, "create", "namespace", "shop")
        for path in EXAMPLES:
            run(kubectl, api, "apply", "-f", str(path))
        got = run(kubectl, api, "get", "podtappolicies", "-n", "shop", "-o", "name").stdout
        assert "podtappolicy.policies.podtap.dev/no-unfiltered-steal" in got.split()
        got = run(kubectl, api, "get", "mirrordclusterpolicies", "-o", "name").stdout
        assert got.split() == [
            "mirrordclusterpolicy.policies.mirrord.metalbear.co/block-steal-without-filter"
        ]
        bad = (
            "apiVersion: policies.podtap.dev/v1alpha1\nkind: PodtapPolicy\n"
            "metadata: {name: bad, namespace: shop}\nspec: {block: [steal-everything]}\n"
        )
        done = run(kubectl, api, "apply", "-f", "-", stdin=bad, ok=False)
        assert done.returncode != 0 and "steal-everything" in done.stderr
    finally:
        run(kubectl, api, "delete", "namespace", "shop", "--wait=false", ok=False)
        run(kubectl, api, "delete", "-f", "-", "--wait=false", stdin=crds, ok=False)
