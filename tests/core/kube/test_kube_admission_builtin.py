"""Admission of built-in objects: typical manifest mistakes get a v1.37 server's exact Status.

Expected messages are those real servers print (each seen in kubectl output in the wild or in
kube-apiserver's own tests); the manifests are what people write by hand.
"""

from __future__ import annotations

import time
from typing import Any

import pytest
import yaml

from podtap.core.kube.admission import Admitted, KindInfo, admit, warning_header
from podtap.core.kube.admission_errors import resource_not_found
from podtap.core.kube.refusal import Refusal

DEPLOYMENT = KindInfo("apps", "v1", "Deployment", has_status=True)
POD = KindInfo("", "v1", "Pod", has_status=True)
SERVICE = KindInfo("", "v1", "Service", has_status=True)
JOB = KindInfo("batch", "v1", "Job", has_status=True)
SECRET = KindInfo("", "v1", "Secret")

GOOD = """
apiVersion: apps/v1
kind: Deployment
metadata: {name: web, labels: {app: web}}
spec:
  replicas: 2
  selector: {matchLabels: {app: web}}
  template:
    metadata: {labels: {app: web}}
    spec:
      containers:
      - name: web
        image: nginx:1.27
        ports: [{containerPort: 80}]
        resources: {limits: {cpu: 500m, memory: 128Mi}}
"""


def manifest(text: str = GOOD, **spec: Any) -> dict[str, Any]:
    obj: dict[str, Any] = yaml.safe_load(text)
    obj["spec"].update(spec)
    return obj


def refused(obj: dict[str, Any], info: KindInfo = DEPLOYMENT, **options: Any) -> Refusal:
    with pytest.raises(Refusal) as caught:
        admit(obj, operation="CREATE", kind_info=info, **options)
    return caught.value


def container(**fields: Any) -> dict[str, Any]:
    obj = manifest()
    obj["spec"]["template"]["spec"]["containers"][0].update(fields)
    return obj


def test_a_good_deployment_is_admitted_unchanged() -> None:
    admitted = admit(manifest(), operation="CREATE", kind_info=DEPLOYMENT)
    assert admitted == Admitted(object=manifest(), warnings=())


def test_a_misspelt_field_is_a_strict_decoding_error_naming_every_unknown_field() -> None:
    obj = container(imagePullPolicyy="Always")
    obj["spec"] = {"replicass": 3, **obj["spec"]}  # reported in document order
    status = refused(obj).status()
    assert status == {
        "kind": "Status",
        "apiVersion": "v1",
        "metadata": {},
        "status": "Failure",
        "message": 'Deployment in version "v1" cannot be handled as a Deployment: strict decoding'
        ' error: unknown field "spec.replicass", unknown field'
        ' "spec.template.spec.containers[0].imagePullPolicyy"',
        "reason": "BadRequest",
        "code": 400,
    }


def test_warn_keeps_the_object_without_the_unknown_fields_and_warns_each() -> None:
    obj = container(imagePullPolicyy="Always")
    admitted = admit(obj, operation="CREATE", kind_info=DEPLOYMENT, field_validation="Warn")
    assert admitted.object == manifest()
    assert admitted.warnings == (
        'unknown field "spec.template.spec.containers[0].imagePullPolicyy"',
    )
    assert warning_header(admitted.warnings[0]) == (
        '299 - "unknown field \\"spec.template.spec.containers[0].imagePullPolicyy\\""'
    )


def test_ignore_drops_unknown_fields_silently() -> None:
    obj = manifest(foo="bar")
    admitted = admit(obj, operation="CREATE", kind_info=DEPLOYMENT, field_validation="Ignore")
    assert admitted == Admitted(object=manifest(), warnings=())


def test_unknown_metadata_fields_are_strict_errors_too() -> None:
    obj = manifest()
    obj["metadata"]["app"] = "web"
    assert refused(obj).message.endswith('strict decoding error: unknown field "metadata.app"')


@pytest.mark.parametrize(
    ("change", "error"),
    [
        (
            {"replicas": "3"},
            "json: cannot unmarshal string into Go struct field DeploymentSpec.spec.replicas"
            " of type int32",
        ),
        (
            {"replicas": 2.5},
            "json: cannot unmarshal number 2.5 into Go struct field DeploymentSpec.spec.replicas"
            " of type int32",
        ),
        (
            {"template": {"spec": {"containers": {"name": "web", "image": "nginx"}}}},
            "json: cannot unmarshal object into Go struct field PodSpec.spec.template.spec"
            ".containers of type []v1.Container",
        ),
        (
            {"strategy": {"rollingUpdate": {"maxSurge": True}}},
            "json: cannot unmarshal bool into Go value of type int32",
        ),
    ],
)
def test_a_wrong_type_is_the_decoders_error(change: dict[str, Any], error: str) -> None:
    refusal = refused(manifest(**change))
    assert (refusal.code, refusal.reason) == (400, "BadRequest")
    assert (
        refusal.message == f'Deployment in version "v1" cannot be handled as a Deployment: {error}'
    )


@pytest.mark.parametrize(
    ("fields", "error"),
    [
        (
            {"ports": [{"containerPort": "80"}]},
            "json: cannot unmarshal string into Go struct field ContainerPort.spec.template.spec"
            ".containers.ports.containerPort of type int32",
        ),
        (
            {"ports": {"containerPort": 80}},
            "json: cannot unmarshal object into Go struct field Container.spec.template.spec"
            ".containers.ports of type []v1.ContainerPort",
        ),
        (
            {"env": [{"name": "PORT", "value": 8080}]},
            "json: cannot unmarshal number into Go struct field EnvVar.spec.template.spec"
            ".containers.env.value of type string",
        ),
        (
            {"resources": {"limits": {"cpu": "1 core"}}},
            "quantities must match the regular expression"
            " '^([+-]?[0-9.]+)([eEinumkKMGTP]*[-+]?[0-9]*)$'",
        ),
    ],
)
def test_a_wrong_type_in_a_container(fields: dict[str, Any], error: str) -> None:
    assert refused(container(**fields)).message.endswith(f"a Deployment: {error}")


def test_the_first_type_error_in_document_order_wins_over_unknown_fields() -> None:
    obj = manifest(foo=1, replicas="3", minReadySeconds="5")
    assert refused(obj).message.endswith("DeploymentSpec.spec.replicas of type int32")


def test_secret_data_must_be_base64() -> None:
    obj = {
        "apiVersion": "v1",
        "kind": "Secret",
        "metadata": {"name": "db"},
        "data": {"pw": "hunter2"},
    }
    assert refused(obj, SECRET).message == (
        'Secret in version "v1" cannot be handled as a Secret: illegal base64 data at input byte 4'
    )


def test_a_kind_spelt_in_lower_case_is_not_registered() -> None:
    obj = manifest()
    obj["kind"] = "deployment"
    refusal = refused(obj)
    assert (refusal.code, refusal.message) == (
        400,
        'deployment in version "v1" cannot be handled as a Deployment: no kind "deployment" is'
        ' registered for version "apps/v1" in scheme'
        ' "k8s.io/kubernetes/pkg/api/legacyscheme/scheme.go:30"',
    )


def test_an_unknown_resource_path_is_the_servers_404() -> None:
    assert resource_not_found().status() == {
        "kind": "Status",
        "apiVersion": "v1",
        "metadata": {},
        "status": "Failure",
        "message": "the server could not find the requested resource",
        "reason": "NotFound",
        "details": {},
        "code": 404,
    }


def test_selector_not_matching_the_template_is_invalid() -> None:
    obj = manifest(selector={"matchLabels": {"app": "api"}})
    assert refused(obj).status() == {
        "kind": "Status",
        "apiVersion": "v1",
        "metadata": {},
        "status": "Failure",
        "message": 'Deployment.apps "web" is invalid: spec.template.metadata.labels: Invalid value:'
        ' {"app":"web"}: `selector` does not match template `labels`',
        "reason": "Invalid",
        "details": {
            "name": "web",
            "group": "apps",
            "kind": "Deployment",
            "causes": [
                {
                    "reason": "FieldValueInvalid",
                    "message": 'Invalid value: {"app":"web"}: `selector` does not match template'
                    " `labels`",
                    "field": "spec.template.metadata.labels",
                }
            ],
        },
        "code": 422,
    }


def test_a_missing_selector_is_required_and_selects_nothing() -> None:
    obj = manifest()
    del obj["spec"]["selector"]
    assert refused(obj).message == (
        'Deployment.apps "web" is invalid: [spec.selector: Required value,'
        ' spec.template.metadata.labels: Invalid value: {"app":"web"}: `selector` does not match'
        " template `labels`]"
    )


def test_a_container_without_name_or_image() -> None:
    obj = manifest()
    obj["spec"]["template"]["spec"]["containers"] = [{"ports": [{"containerPort": 80}]}]
    refusal = refused(obj)
    assert refusal.message == (
        'Deployment.apps "web" is invalid: [spec.template.spec.containers[0].name: Required value,'
        " spec.template.spec.containers[0].image: Required value]"
    )
    assert refusal.details is not None
    assert refusal.details["causes"] == [
        {
            "reason": "FieldValueRequired",
            "message": "Required value",
            "field": "spec.template.spec.containers[0].name",
        },
        {
            "reason": "FieldValueRequired",
            "message": "Required value",
            "field": "spec.template.spec.containers[0].image",
        },
    ]


def test_container_names_are_labels_and_unique() -> None:
    pod = yaml.safe_load(
        """
        apiVersion: v1
        kind: Pod
        metadata: {name: two}
        spec:
          containers:
          - {name: app, image: nginx}
          - {name: app, image: redis}
          - {name: Side_Car, image: envoy, ports: [{containerPort: 70000}]}
        """
    )
    assert refused(pod, POD).message == (
        'Pod "two" is invalid: [spec.containers[1].name: Duplicate value: "app",'
        ' spec.containers[2].name: Invalid value: "Side_Car": a lowercase RFC 1123 label must'
        " consist of lower case alphanumeric characters or '-', and must start and end with an"
        " alphanumeric character (e.g. 'my-name',  or '123-abc', regex used for validation is"
        " '[a-z0-9]([-a-z0-9]*[a-z0-9])?'), spec.containers[2].ports[0].containerPort: Invalid"
        " value: 70000: must be between 1 and 65535, inclusive]"
    )


def test_a_mount_of_a_missing_volume_is_not_found() -> None:
    obj = container(volumeMounts=[{"name": "data", "mountPath": "/data"}])
    assert refused(obj).message == (
        'Deployment.apps "web" is invalid: spec.template.spec.containers[0].volumeMounts[0].name:'
        ' Not found: "data"'
    )


@pytest.mark.parametrize(
    ("name", "message"),
    [
        (
            "My_App",
            'metadata.name: Invalid value: "My_App": a lowercase RFC 1123 subdomain must consist of'
            " lower case alphanumeric characters, '-' or '.', and must start and end with an"
            " alphanumeric character (e.g. 'example.com', regex used for validation is"
            " '[a-z0-9]([-a-z0-9]*[a-z0-9])?(\\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*')",
        ),
        ("", "metadata.name: Required value: name or generateName is required"),
    ],
)
def test_a_bad_name(name: str, message: str) -> None:
    obj = manifest()
    obj["metadata"]["name"] = name
    assert refused(obj).message == f'Deployment.apps "{name}" is invalid: {message}'


def test_a_service_name_is_a_dns_1035_label_and_needs_a_port() -> None:
    svc = {
        "apiVersion": "v1",
        "kind": "Service",
        "metadata": {"name": "1api"},
        "spec": {"ports": [{}]},
    }
    assert refused(svc, SERVICE).message == (
        'Service "1api" is invalid: [metadata.name: Invalid value: "1api": a DNS-1035 label must'
        " consist of lower case alphanumeric characters or '-', start with an alphabetic"
        " character, and end with an alphanumeric character (e.g. 'my-name',  or 'abc-123', regex"
        " used for validation is '[a-z]([-a-z0-9]*[a-z0-9])?'), spec.ports[0].port: Invalid value:"
        " 0: must be between 1 and 65535, inclusive, spec.ports[0].targetPort: Invalid value: 0:"
        " must be between 1 and 65535, inclusive]"
    )


def test_a_node_port_outside_the_range_is_refused_by_the_allocator() -> None:
    svc = yaml.safe_load(
        "{apiVersion: v1, kind: Service, metadata: {name: web},"
        " spec: {type: NodePort, ports: [{port: 80, nodePort: 80}]}}"
    )
    assert refused(svc, SERVICE).message == (
        'Service "web" is invalid: spec.ports[0].nodePort: Invalid value: 80: provided port is not'
        " in the valid range. The range of valid ports is 30000-32767"
    )


def test_a_job_needs_a_restart_policy_other_than_always() -> None:
    job = yaml.safe_load(
        "{apiVersion: batch/v1, kind: Job, metadata: {name: pi},"
        " spec: {template: {spec: {containers: [{name: pi, image: perl}]}}}}"
    )
    assert refused(job, JOB).message == (
        'Job.batch "pi" is invalid: spec.template.spec.restartPolicy: Unsupported value: "Always":'
        ' supported values: "OnFailure", "Never"'
    )


def test_status_of_a_create_is_dropped_and_of_an_update_kept() -> None:
    stored = manifest()
    stored["status"] = {"replicas": 2}
    body = manifest()
    body["status"] = {"replicas": 99}
    created = admit(body, operation="CREATE", kind_info=DEPLOYMENT)
    assert "status" not in created.object
    updated = admit(body, operation="UPDATE", kind_info=DEPLOYMENT, old=stored)
    assert updated.object["status"] == {"replicas": 2}


def test_the_validator_is_loaded_once_and_fast_after() -> None:
    admit(manifest(), operation="CREATE", kind_info=DEPLOYMENT)
    start = time.perf_counter()
    for _ in range(50):
        admit(manifest(), operation="CREATE", kind_info=DEPLOYMENT)
    assert (time.perf_counter() - start) / 50 < 0.013
