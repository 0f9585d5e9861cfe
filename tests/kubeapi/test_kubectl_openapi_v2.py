"""`/openapi/v2` under the real kubectl, and bad objects refused with a real cluster's words.

kubectl validates with `/openapi/v3` where the kind's PATCH lists `fieldValidation` (then the
server decides, `--validate=strict` sending `fieldValidation=Strict`), and downloads
`/openapi/v2` as protobuf for anything else, an unknown kind first of all: before v2 was
served that was "failed to download openapi". `--validate=false` sends
`fieldValidation=Ignore`: an unknown field is dropped, a wrong type is still the server's 400.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from podtap.backends.local.kubeapi import openapi_v2
from podtap.backends.local.kubeapi.app import Running
from podtap.backends.local.kubeapi.registry import Registry
from tests.kubeapi.cli import run
from tests.kubeapi.manifests import DEPLOYMENT

UNKNOWN_FIELD = (
    'Error from server (BadRequest): error when creating "STDIN": Deployment in version "v1" '
    'cannot be handled as a Deployment: strict decoding error: unknown field "spec.replica"'
)
WRONG_TYPE = (
    'Error from server (BadRequest): error when creating "STDIN": Deployment in version "v1" '
    "cannot be handled as a Deployment: json: cannot unmarshal string into Go struct field "
    "DeploymentSpec.spec.replicas of type int32"
)
UNKNOWN_KIND = (
    'error: resource mapping not found for name: "web" namespace: "default" from "STDIN": '
    'no matches for kind "Deploymnt" in version "apps/v1"\nensure CRDs are installed first'
)
BAD = {
    "field": (DEPLOYMENT.replace("replicas", "replica"), UNKNOWN_FIELD),
    "type": (DEPLOYMENT.replace("replicas: 2", 'replicas: "two"'), WRONG_TYPE),
    "kind": (DEPLOYMENT.replace("kind: Deployment", "kind: Deploymnt"), UNKNOWN_KIND),
}


def _keeps_serving(kubectl: Path, api: Running) -> None:
    assert run(kubectl, api, "get", "pods").returncode == 0
    assert run(kubectl, api, "get", "deploy", "-o", "name").stdout == ""  # nothing half-made


# Strict: the server's strict decoding (v3 lists fieldValidation) or, for an unknown kind, the
# v2 document then the REST mapping. false: the server's decoding alone.
REFUSED = [*(("strict", bad) for bad in sorted(BAD)), ("false", "type"), ("false", "kind")]


@pytest.mark.parametrize(("validate", "bad"), REFUSED)
def test_bad_objects_are_refused_as_by_a_real_cluster(
    api: Running, kubectl_bin: Path, validate: str, bad: str
) -> None:
    manifest, message = BAD[bad]
    done = run(
        kubectl_bin, api, "apply", f"--validate={validate}", "-f", "-", stdin=manifest, ok=False
    )
    assert (done.returncode, done.stderr.strip()) == (1, message)
    _keeps_serving(kubectl_bin, api)


def test_without_validation_an_unknown_field_is_dropped(api: Running, kubectl_bin: Path) -> None:
    manifest = BAD["field"][0]
    done = run(kubectl_bin, api, "apply", "--validate=false", "-f", "-", stdin=manifest)
    assert done.stdout == "deployment.apps/web created\n" and done.stderr == ""
    stored = json.loads(run(kubectl_bin, api, "get", "deploy", "web", "-o", "json").stdout)
    assert "replica" not in stored["spec"]
    run(kubectl_bin, api, "delete", "deploy", "web")
    _keeps_serving(kubectl_bin, api)


def test_explain_reads_the_v2_document(api: Running, kubectl_bin: Path) -> None:
    """`--output=plaintext-openapiv2` parses every v2 definition (kube-openapi fails the whole
    document on one it cannot read) and finds the field by the kind's group-version-kind."""
    out = run(
        kubectl_bin, api, "explain", "deployment.spec.replicas", "--output=plaintext-openapiv2"
    ).stdout
    assert out.startswith("KIND:     Deployment\nVERSION:  apps/v1\n\nFIELD:    replicas <integer>")
    out = run(
        kubectl_bin, api, "explain", "pod.spec.containers.ports", "--output=plaintext-openapiv2"
    ).stdout
    assert "containerPort\t<integer> -required-" in out, out


def test_v2_is_json_for_anyone_else(api: Running, kubectl_bin: Path) -> None:
    doc = json.loads(run(kubectl_bin, api, "get", "--raw", "/openapi/v2").stdout)
    assert doc["swagger"] == "2.0"
    deployment = doc["definitions"]["io.k8s.api.apps.v1.Deployment"]
    assert deployment["properties"]["spec"] == {
        "$ref": "#/definitions/io.k8s.api.apps.v1.DeploymentSpec",
        "description": deployment["properties"]["spec"]["description"],
    }
    assert deployment["x-kubernetes-group-version-kind"] == [
        {"group": "apps", "kind": "Deployment", "version": "v1"}
    ]
    port = doc["definitions"]["io.k8s.api.core.v1.ContainerPort"]["properties"]
    assert port["containerPort"]["type"] == "integer"
    assert doc["definitions"]["io.k8s.apimachinery.pkg.util.intstr.IntOrString"] == {
        "type": "string",
        "format": "int-or-string",
    }


def test_v2_negotiation() -> None:
    kubectl = "application/com.github.proto-openapi.spec.v2@v1.0+protobuf"
    assert openapi_v2.wants_protobuf(kubectl) and not openapi_v2.wants_protobuf("*/*")
    assert openapi_v2.accepts_json("") and openapi_v2.accepts_json("application/json, */*")
    assert not openapi_v2.accepts_json("text/html")  # 406, as kube-openapi
    message = openapi_v2.protobuf(Registry().all())
    assert message.startswith(b"\x0a\x032.0\x12")  # swagger "2.0", then info


def test_v2_lists_custom_resources(api: Running, kubectl_bin: Path) -> None:
    crd = Path(__file__).parent / "charts" / "sample" / "crds" / "gadgets.yaml"
    run(kubectl_bin, api, "apply", "-f", str(crd))
    try:
        run(kubectl_bin, api, "wait", "--for=condition=Established", "crd/gadgets.example.com")
        out = run(
            kubectl_bin, api, "explain", "gadget.spec.size", "--output=plaintext-openapiv2"
        ).stdout
        assert out.startswith(
            "KIND:     Gadget\nVERSION:  example.com/v1\n\nFIELD:    size <integer>"
        )
    finally:
        run(kubectl_bin, api, "delete", "-f", str(crd))
