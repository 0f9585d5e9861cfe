"""Admission of custom resources: pruning, defaults, schema errors and the status subresource.

The CRD is the CronTab of the Kubernetes documentation, grown a few fields; expected texts are
those kube-apiserver prints (and apiextensions-apiserver's validation tests assert).
"""

from __future__ import annotations

from typing import Any

import pytest
import yaml

from podtap.core.kube.admission import KindInfo, admit
from podtap.core.kube.admission_prune import apply_defaults, drop_nulls, prune
from podtap.core.kube.admission_status import kept_for_write
from podtap.core.kube.refusal import Refusal

CRD: dict[str, Any] = yaml.safe_load(
    """
apiVersion: apiextensions.k8s.io/v1
kind: CustomResourceDefinition
metadata: {name: crontabs.stable.example.com}
spec:
  group: stable.example.com
  scope: Namespaced
  names: {plural: crontabs, singular: crontab, kind: CronTab}
  versions:
  - name: v1
    served: true
    storage: true
    subresources: {status: {}}
    schema:
      openAPIV3Schema:
        type: object
        properties:
          spec:
            type: object
            required: [cronSpec]
            properties:
              cronSpec: {type: string, pattern: '^(\\S+ ){4}\\S+$'}
              image: {type: string, maxLength: 20}
              replicas: {type: integer, minimum: 1, maximum: 10, default: 1}
              size: {type: string, enum: [S, M, L]}
              port: {x-kubernetes-int-or-string: true}
              tags: {type: array, maxItems: 2, items: {type: string}}
              nickname: {type: string, nullable: true}
              policy:
                type: object
                default: {}
                properties:
                  retries: {type: integer, default: 3}
              config:
                type: object
                x-kubernetes-preserve-unknown-fields: true
                properties:
                  nested: {type: object, properties: {kept: {type: string}}}
              steps:
                type: array
                items: {type: object, properties: {name: {type: string}}}
          status:
            type: object
            properties:
              phase: {type: string}
"""
)
CRONTAB = KindInfo("stable.example.com", "v1", "CronTab")
STATUS = KindInfo("stable.example.com", "v1", "CronTab", subresource="status")
SCHEMA: dict[str, Any] = CRD["spec"]["versions"][0]["schema"]["openAPIV3Schema"]


def crontab(**spec: Any) -> dict[str, Any]:
    return {
        "apiVersion": "stable.example.com/v1",
        "kind": "CronTab",
        "metadata": {"name": "nightly", "namespace": "default"},
        "spec": {"cronSpec": "0 3 * * *", "image": "backup", **spec},
    }


def refused(obj: dict[str, Any], **options: Any) -> Refusal:
    with pytest.raises(Refusal) as caught:
        admit(obj, operation="CREATE", kind_info=CRONTAB, crd=CRD, **options)
    return caught.value


def test_defaults_are_applied_top_down() -> None:
    admitted = admit(crontab(), operation="CREATE", kind_info=CRONTAB, crd=CRD)
    assert admitted.object["spec"] == {
        "cronSpec": "0 3 * * *",
        "image": "backup",
        "replicas": 1,
        "policy": {"retries": 3},
    }


def test_a_string_for_an_integer_is_the_servers_422() -> None:
    status = refused(crontab(replicas="three")).status()
    assert status == {
        "kind": "Status",
        "apiVersion": "v1",
        "metadata": {},
        "status": "Failure",
        "message": 'CronTab.stable.example.com "nightly" is invalid: spec.replicas: Invalid value:'
        ' "string": spec.replicas in body must be of type integer: "string"',
        "reason": "Invalid",
        "details": {
            "name": "nightly",
            "group": "stable.example.com",
            "kind": "CronTab",
            "causes": [
                {
                    "reason": "FieldValueTypeInvalid",
                    "message": 'Invalid value: "string": spec.replicas in body must be of type'
                    ' integer: "string"',
                    "field": "spec.replicas",
                }
            ],
        },
        "code": 422,
    }


@pytest.mark.parametrize(
    ("spec", "message"),
    [
        ({"replicas": 0}, "spec.replicas: Invalid value: 0: spec.replicas in body should be"
         " greater than or equal to 1"),
        ({"replicas": 11}, "spec.replicas: Invalid value: 11: spec.replicas in body should be"
         " less than or equal to 10"),
        ({"size": "XL"}, 'spec.size: Unsupported value: "XL": supported values: "S", "M", "L"'),
        ({"image": "x" * 21}, "spec.image: Too long: may not be more than 20 bytes"),
        ({"tags": ["a", "b", "c"]}, "spec.tags: Too many: 3: must have at most 2 items"),
        ({"port": True}, 'spec.port: Invalid value: "boolean": spec.port in body must be of type'
         ' integer,string: "boolean"'),
        ({"cronSpec": "daily"}, 'spec.cronSpec: Invalid value: "daily": spec.cronSpec in body'
         " should match '^(\\S+ ){4}\\S+$'"),
        ({"steps": [{"name": 1}]}, 'spec.steps[0].name: Invalid value: "integer":'
         ' spec.steps[0].name in body must be of type string: "integer"'),
    ],
)  # fmt: skip
def test_schema_violations_in_kube_openapis_words(spec: dict[str, Any], message: str) -> None:
    refusal = refused(crontab(**spec))
    assert (refusal.code, refusal.reason) == (422, "Invalid")
    assert refusal.message == f'CronTab.stable.example.com "nightly" is invalid: {message}'


def test_a_missing_required_field_and_a_bad_name_together() -> None:
    obj = crontab()
    del obj["spec"]["cronSpec"]
    obj["metadata"]["name"] = "Nightly"
    assert refused(obj).message.startswith(
        'CronTab.stable.example.com "Nightly" is invalid: [metadata.name: Invalid value: "Nightly":'
        " a lowercase RFC 1123 subdomain"
    )
    assert refused(obj).message.endswith(", spec.cronSpec: Required value]")


def test_an_int_or_string_takes_both() -> None:
    for port in (8080, "http"):
        admitted = admit(crontab(port=port), operation="CREATE", kind_info=CRONTAB, crd=CRD)
        assert admitted.object["spec"]["port"] == port


def test_unknown_fields_are_a_strict_decoding_error_sorted() -> None:
    obj = crontab(colour="blue", steps=[{"name": "a", "run": "x"}])
    obj["metadata"]["app"] = "x"
    assert refused(obj).status()["message"] == (
        'CronTab in version "v1" cannot be handled as a CronTab: strict decoding error:'
        ' unknown field "metadata.app", unknown field "spec.colour",'
        ' unknown field "spec.steps[0].run"'
    )


def test_warn_prunes_and_warns() -> None:
    admitted = admit(
        crontab(colour="blue"),
        operation="CREATE",
        kind_info=CRONTAB,
        crd=CRD,
        field_validation="Warn",
    )
    assert "colour" not in admitted.object["spec"]
    assert admitted.warnings == ('unknown field "spec.colour"',)


def test_preserve_unknown_fields_keeps_them_but_prunes_declared_children() -> None:
    config = {"anything": {"deep": [1, 2]}, "nested": {"kept": "k", "dropped": "d"}}
    obj = crontab(config=config)
    assert prune(obj, SCHEMA) == ["spec.config.nested.dropped"]
    assert obj["spec"]["config"] == {"anything": {"deep": [1, 2]}, "nested": {"kept": "k"}}


def test_root_metadata_kind_and_api_version_are_never_pruned() -> None:
    obj = crontab()
    obj["extra"] = 1
    assert prune(obj, {"type": "object", "properties": {"metadata": {"type": "object"}}}) == [
        "extra",
        "spec",
    ]
    assert set(obj) == {"apiVersion", "kind", "metadata"}
    assert obj["metadata"] == {"name": "nightly", "namespace": "default"}


def test_embedded_resources_keep_their_type_fields() -> None:
    schema = {
        "type": "object",
        "properties": {
            "template": {"type": "object", "x-kubernetes-embedded-resource": True, "properties": {}}
        },
    }
    obj = {"template": {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "p"}, "spec": {}}}
    assert prune(obj, schema) == ["template.spec"]
    assert obj == {"template": {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "p"}}}


def test_nulls_go_unless_nullable_and_defaults_replace_them() -> None:
    obj = crontab(image=None, nickname=None, replicas=None)
    drop_nulls(obj, SCHEMA)
    apply_defaults(obj, SCHEMA)
    assert obj["spec"]["nickname"] is None
    assert "image" not in obj["spec"]
    assert obj["spec"]["replicas"] == 1


def test_status_is_dropped_on_create_and_kept_from_storage_on_update() -> None:
    body = crontab()
    body["status"] = {"phase": "Running"}
    created = admit(body, operation="CREATE", kind_info=CRONTAB, crd=CRD)
    assert "status" not in created.object
    stored = {**created.object, "status": {"phase": "Pending"}}
    updated = admit(body, operation="UPDATE", kind_info=CRONTAB, crd=CRD, old=stored)
    assert updated.object["status"] == {"phase": "Pending"}


def test_a_status_write_keeps_only_the_status() -> None:
    stored = admit(crontab(), operation="CREATE", kind_info=CRONTAB, crd=CRD).object
    body = crontab(image="changed")
    body["status"] = {"phase": "Running"}
    body["metadata"]["labels"] = {"new": "label"}
    written = admit(body, operation="UPDATE", kind_info=STATUS, crd=CRD, old=stored)
    assert written.object == {**stored, "status": {"phase": "Running"}}


def test_a_status_write_is_validated_too() -> None:
    stored = admit(crontab(), operation="CREATE", kind_info=CRONTAB, crd=CRD).object
    body = {**stored, "status": {"phase": 3}}
    with pytest.raises(Refusal) as caught:
        admit(body, operation="UPDATE", kind_info=STATUS, crd=CRD, old=stored)
    assert caught.value.message.endswith(
        'status.phase: Invalid value: "integer": status.phase in body must be of type string:'
        ' "integer"'
    )


def test_without_the_subresource_status_is_an_ordinary_field() -> None:
    body = {"spec": {"x": 1}, "status": {"phase": "Running"}}
    old = {"spec": {"x": 0}, "status": {"phase": "Pending"}}
    kept = kept_for_write(body, old=old, operation="UPDATE", subresource="", has_status=False)
    assert kept == body
    assert kept is not body
