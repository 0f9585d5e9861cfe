"""Field selectors: apimachinery's parsing and escaping, and each kind's supported fields."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from podtap.core.kube.field_labels import (
    check_field_selector,
    convert_field_label,
    selectable_fields,
)
from podtap.core.kube.field_selectors import (
    escape_value,
    parse_field_selector,
    unescape_value,
)
from podtap.core.kube.selectors import SelectorError


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("", ""),
        ("a=b", "a=b"),
        ("a==b", "a=b"),
        ("a!=b", "a!=b"),
        ("b=1,a=2", "a=2,b=1"),
        ("x=a\\,b", "x=a,b"),
        ("x=", "x="),
        ("x=a,,y=b", "x=a,y=b"),
    ],
)
def test_parsing(text: str, expected: str) -> None:
    assert str(parse_field_selector(text)) == expected


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("abc", "invalid selector: 'abc'; can't understand 'abc'"),
        ("a=b,c", "invalid selector: 'a=b,c'; can't understand 'c'"),
        ("a=b=c", "invalid field selector: unescaped character in value: 61"),
        ("a=b\\x", "invalid field selector: invalid escape sequence: \\x"),
        ("a=b\\", "invalid field selector: invalid escape sequence: \\"),
    ],
)
def test_parse_errors(text: str, message: str) -> None:
    with pytest.raises(SelectorError) as caught:
        parse_field_selector(text)
    assert str(caught.value) == message


@pytest.mark.parametrize(
    ("text", "fields", "expected"),
    [
        ("status.phase=Running", {"status.phase": "Running"}, True),
        ("status.phase!=Running", {"status.phase": "Running"}, False),
        ("spec.nodeName=", {"metadata.name": "p"}, True),
        (
            "metadata.namespace!=default,metadata.name=x",
            {"metadata.name": "x", "metadata.namespace": "kube-system"},
            True,
        ),
    ],
)
def test_matching(text: str, fields: dict[str, str], expected: bool) -> None:
    assert parse_field_selector(text).matches(fields) is expected


@given(st.text(max_size=12))
def test_escape_round_trips(value: str) -> None:
    assert unescape_value(escape_value(value)) == value
    assert parse_field_selector("f=" + escape_value(value)).requires_exact_match("f") == value


def test_pods_support_their_fields_and_refuse_others() -> None:
    assert convert_field_label("", "Pod", "spec.nodeName", "n1") == ("spec.nodeName", "n1")
    assert convert_field_label("", "Pod", "spec.host", "n1") == ("spec.nodeName", "n1")
    with pytest.raises(SelectorError) as caught:
        convert_field_label("", "Pod", "spec.containers", "x")
    assert str(caught.value) == "field label not supported: spec.containers"


def test_kinds_without_a_list_fall_back_to_metadata() -> None:
    assert convert_field_label("networking.k8s.io", "Ingress", "metadata.name", "x") == (
        "metadata.name",
        "x",
    )
    with pytest.raises(SelectorError) as caught:
        convert_field_label("networking.k8s.io", "Ingress", "foo.bar", "baz")
    assert (
        str(caught.value)
        == '"foo.bar" is not a known field selector: only "metadata.name", "metadata.namespace"'
    )


def test_nodes_do_not_take_a_namespace() -> None:
    with pytest.raises(SelectorError, match=r"field label not supported: metadata\.namespace"):
        convert_field_label("", "Node", "metadata.namespace", "x")


def test_custom_resources() -> None:
    assert convert_field_label(
        "ex.com", "Widget", "spec.color", "red", custom=True, selectable={"spec.color"}
    )
    with pytest.raises(SelectorError, match=r"field label not supported: metadata\.namespace"):
        convert_field_label(
            "ex.com", "Widget", "metadata.namespace", "x", custom=True, namespaced=False
        )


def test_check_field_selector_converts_every_term() -> None:
    selector = check_field_selector(
        parse_field_selector("spec.host=n1,status.phase=Running"), group="", kind="Pod"
    )
    assert str(selector) == "spec.nodeName=n1,status.phase=Running"
    with pytest.raises(SelectorError, match="field label not supported: type"):
        check_field_selector(parse_field_selector("type=x"), group="", kind="Pod")


POD = {
    "metadata": {"name": "web-1", "namespace": "default"},
    "spec": {"nodeName": "node-a", "serviceAccountName": "sa", "restartPolicy": "Always"},
    "status": {"phase": "Running", "podIPs": [{"ip": "10.0.0.5"}], "podIP": "10.0.0.5"},
}


def test_pod_fields() -> None:
    fields = selectable_fields("", "Pod", POD)
    assert fields["spec.nodeName"] == "node-a"
    assert fields["status.podIP"] == "10.0.0.5"
    assert fields["spec.hostNetwork"] == "false"
    assert fields["spec.serviceAccountName"] == "sa"
    assert fields["spec.schedulerName"] == ""
    selector = check_field_selector(
        parse_field_selector("spec.nodeName=node-a,status.phase=Running"), group="", kind="Pod"
    )
    assert selector.matches(fields)


def test_event_secret_job_fields() -> None:
    event = {
        "metadata": {"name": "e", "namespace": "default"},
        "involvedObject": {"kind": "Pod", "name": "web-1", "namespace": "default"},
        "reason": "Started",
        "type": "Normal",
        "reportingController": "kubelet",
    }
    fields = selectable_fields("", "Event", event)
    assert fields["involvedObject.name"] == "web-1"
    assert fields["source"] == "kubelet"
    assert fields["reason"] == "Started"
    assert selectable_fields("", "Secret", {"type": "Opaque"})["type"] == "Opaque"
    assert (
        selectable_fields("batch", "Job", {"status": {"succeeded": 2}})["status.successful"] == "2"
    )
    assert "metadata.namespace" not in selectable_fields("", "Node", {}, namespaced=False)
    assert (
        selectable_fields("", "Node", {"spec": {"unschedulable": True}})["spec.unschedulable"]
        == "true"
    )
