"""Bad objects from the real kubectl get the real server's answers, and the server keeps serving."""

from __future__ import annotations

import json
from pathlib import Path

from podtap.backends.local.kubeapi.app import Running
from tests.kubeapi.cli import run
from tests.kubeapi.manifests import DEPLOYMENT


def test_unknown_field_wrong_type_and_invalid(api: Running, kubectl_bin: Path) -> None:
    apply = ("apply", "-f", "-")
    unknown = run(
        kubectl_bin, api, *apply, stdin=DEPLOYMENT.replace("replicas", "replica"), ok=False
    )
    assert unknown.stderr.strip() == (
        'Error from server (BadRequest): error when creating "STDIN": Deployment in version "v1" '
        'cannot be handled as a Deployment: strict decoding error: unknown field "spec.replica"'
    )
    wrong = run(kubectl_bin, api, *apply, stdin=DEPLOYMENT.replace("2", "two"), ok=False)
    assert wrong.stderr.strip().endswith(
        "json: cannot unmarshal string into Go struct field DeploymentSpec.spec.replicas of type "
        "int32"
    )
    invalid = run(kubectl_bin, api, *apply, stdin=DEPLOYMENT.replace("nginx", '""'), ok=False)
    assert invalid.stderr.strip() == (
        'The Deployment "web" is invalid: spec.template.spec.containers[0].image: Required value'
    )
    # fieldValidation=Warn: the field is dropped, the object stored, the warning printed.
    warned = run(
        kubectl_bin, api, *apply, "--validate=warn", stdin=DEPLOYMENT.replace("replicas", "replica")
    )
    assert warned.stderr == 'Warning: unknown field "spec.replica"\n'
    stored = json.loads(run(kubectl_bin, api, "get", "deploy", "web", "-o", "json").stdout)
    assert "replica" not in stored["spec"]
    run(kubectl_bin, api, "delete", "deploy", "web")
