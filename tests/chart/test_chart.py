"""charts/podtap-operator rendered by the real helm: valid objects for Kubernetes 1.30 and 1.37.

Each case of values is rendered once (render() caches); every object must pass
kubernetes-validate strict, except the two kinds it has no schema for (OpenShift's
SecurityContextConstraints and the Prometheus operator's ServiceMonitor), which are checked
against a minimal schema of the fields those APIs require.
"""

from __future__ import annotations

import re
import subprocess

import jsonschema
import kubernetes_validate  # type: ignore[import-untyped]
import pytest

from podtap.core.policy.crds import definitions
from podtap.core.queues.crds import definitions as split_definitions
from tests.chart.cases import CASES
from tests.chart.render import CHART, FULLNAME, NAMESPACE, Obj, helm, kinds, render

VERSIONS = ("1.30.0", "1.37.0")
#: policies, profiles and split configs, podtap's and mirrord's
POLICY_CRDS = (*definitions(), *split_definitions())
_TYPED = {"type": "object", "required": ["type"], "properties": {"type": {"type": "string"}}}
_STRINGS = {"type": "array", "items": {"type": "string"}}
CUSTOM: dict[str, Obj] = {
    "security.openshift.io/v1/SecurityContextConstraints": {
        "type": "object",
        "required": [
            "allowHostPID",
            "allowHostDirVolumePlugin",
            "allowedCapabilities",
            "runAsUser",
            "seLinuxContext",
            "fsGroup",
            "supplementalGroups",
            "users",
        ],
        "properties": {
            **{
                k: {"type": "boolean"}
                for k in (
                    "allowHostPID",
                    "allowHostDirVolumePlugin",
                    "allowHostIPC",
                    "allowHostNetwork",
                    "allowHostPorts",
                    "allowPrivilegeEscalation",
                    "allowPrivilegedContainer",
                    "readOnlyRootFilesystem",
                )
            },
            **{k: _TYPED for k in ("runAsUser", "seLinuxContext", "fsGroup", "supplementalGroups")},
            **{
                k: _STRINGS
                for k in (
                    "allowedCapabilities",
                    "requiredDropCapabilities",
                    "seccompProfiles",
                    "volumes",
                    "users",
                    "groups",
                )
            },
        },
    },
    "monitoring.coreos.com/v1/ServiceMonitor": {
        "type": "object",
        "required": ["spec"],
        "properties": {
            "spec": {
                "type": "object",
                "required": ["selector", "endpoints"],
                "properties": {
                    "selector": {"type": "object", "required": ["matchLabels"]},
                    "endpoints": {
                        "type": "array",
                        "minItems": 1,
                        "items": {
                            "type": "object",
                            "required": ["port"],
                            "properties": {
                                "port": {"type": "string"},
                                "interval": {"type": "string"},
                            },
                        },
                    },
                },
            }
        },
    },
}


def names(obj: Obj) -> str:
    meta = obj["metadata"]
    return f"{obj['kind']} {meta.get('namespace', '')}/{meta['name']}"


def test_helm_lint_strict_passes() -> None:
    done = subprocess.run(
        [str(helm()), "lint", "--strict", str(CHART)], capture_output=True, text=True, check=False
    )
    assert done.returncode == 0, done.stdout + done.stderr
    assert "1 chart(s) linted, 0 chart(s) failed" in done.stdout


@pytest.mark.parametrize("case", CASES)
@pytest.mark.parametrize("version", VERSIONS)
def test_every_object_is_valid_for_kubernetes(case: str, version: str) -> None:
    for obj in render(CASES[case]):
        custom = CUSTOM.get(f"{obj['apiVersion']}/{obj['kind']}")
        if custom is not None:
            jsonschema.validate(obj, custom)
        else:
            kubernetes_validate.validate(obj, version, strict=True)


@pytest.mark.parametrize("case", CASES)
def test_no_object_twice_and_every_name_fits_a_label(case: str) -> None:
    seen = [names(o) for o in render(CASES[case])]
    assert sorted(seen) == sorted(set(seen))
    for obj in render(CASES[case]):
        meta = obj["metadata"]
        assert len(meta["name"]) <= 63, names(obj)
        labels: dict[str, str] = {**meta.get("labels", {})}
        labels.update(obj.get("spec", {}).get("template", {}).get("metadata", {}).get("labels", {}))
        for key, value in labels.items():
            assert len(value) <= 63 and len(key.rpartition("/")[2]) <= 63, (names(obj), key)


def test_long_release_names_are_cut_to_fit() -> None:
    done = subprocess.run(
        [str(helm()), "template", "r" * 53, str(CHART), "-n", NAMESPACE],
        capture_output=True,
        text=True,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    found = re.findall(r"^  name: (\S+)$", done.stdout, flags=re.M)
    assert found and max(len(n) for n in found) <= 63
    assert f"name: {'r' * 42}-auth-delegator" in done.stdout


def test_defaults_make_the_documented_objects() -> None:
    got = sorted(names(o) for o in render({}))
    ns = NAMESPACE
    assert got == sorted(
        [
            "APIService /v1.operator.podtap.dev",
            f"ClusterRole /{FULLNAME}",
            f"ClusterRole /{FULLNAME}-admin",
            f"ClusterRole /{FULLNAME}-ci",
            f"ClusterRole /{FULLNAME}-user",
            f"ClusterRoleBinding /{FULLNAME}",
            f"ClusterRoleBinding /{FULLNAME}-auth-delegator",
            f"ConfigMap {ns}/{FULLNAME}-ca",
            "CustomResourceDefinition /podtapsessions.podtap.dev",
            *(f"CustomResourceDefinition /{name}" for name in POLICY_CRDS),
            f"Deployment {ns}/{FULLNAME}",
            f"Role {ns}/{FULLNAME}-leader",
            f"Role {ns}/{FULLNAME}-user",
            f"RoleBinding kube-system/{FULLNAME}-auth-reader",
            f"RoleBinding {ns}/{FULLNAME}-leader",
            f"Secret {ns}/{FULLNAME}-tls",
            f"Service {ns}/{FULLNAME}",
            f"ServiceAccount {ns}/{FULLNAME}",
        ]
    )


def test_nothing_is_kept_on_uninstall_unless_asked() -> None:
    def kept(objs: tuple[Obj, ...]) -> list[str]:
        policy = "helm.sh/resource-policy"
        return [names(o) for o in objs if o["metadata"].get("annotations", {}).get(policy)]

    assert kept(render({})) == []
    assert sorted(kept(render(CASES["api-service-off"]))) == sorted(
        f"CustomResourceDefinition /{name}" for name in ("podtapsessions.podtap.dev", *POLICY_CRDS)
    )
    assert kinds(render({"crds": {"install": False}}), "CustomResourceDefinition") == []
