"""The attributes of a request path, checked against upstream's own table
(k8s.io/apiserver/pkg/endpoints/request/requestinfo_test.go)."""

from __future__ import annotations

import pytest

from podtap.core.kube.request_info import request_info

# method, path, then verb group version namespace resource subresource name ('-': empty)
RESOURCE_CASES = [
    ("GET", "/api/v1/namespaces", "list - v1 - namespaces - -"),
    ("GET", "/api/v1/namespaces/other", "get - v1 other namespaces - other"),
    ("GET", "/api/v1/namespaces/other/pods/foo", "get - v1 other pods - foo"),
    ("GET", "/api/v1/pods", "list - v1 - pods - -"),
    ("GET", "/api/v1/namespaces/other/pods/foo/status", "get - v1 other pods status foo"),
    ("GET", "/api/v1/watch/pods", "watch - v1 - pods - -"),
    ("GET", "/api/v1/watch/namespaces/other/pods", "watch - v1 other pods - -"),
    ("GET", "/api/v1/namespaces/other/pods", "list - v1 other pods - -"),
    ("HEAD", "/api/v1/namespaces/other/pods/foo", "get - v1 other pods - foo"),
    ("GET", "/api/v1/namespaces/other/pods/foo/proxy/sub", "get - v1 other pods proxy foo"),
    ("GET", "/api/v1/proxy/namespaces/other/pods/foo/not/a/sub", "proxy - v1 other pods - foo"),
    ("PUT", "/api/v1/namespaces/other/finalize", "update - v1 other namespaces finalize other"),
    ("PUT", "/api/v1/namespaces/other/status", "update - v1 other namespaces status other"),
    ("POST", "/api/v1/namespaces/other/pods", "create - v1 other pods - -"),
    ("PATCH", "/api/v1/namespaces/other/pods/foo", "patch - v1 other pods - foo"),
    ("DELETE", "/api/v1/namespaces/other/pods/foo", "delete - v1 other pods - foo"),
    ("DELETE", "/api/v1/namespaces/other/pods", "deletecollection - v1 other pods - -"),
    (
        "GET",
        "/apis/extensions/v1beta1/namespaces/other/pods",
        "list extensions v1beta1 other pods - -",
    ),
    (
        "GET",
        "/apis/operator.podtap.dev/v1/proxy/namespaces/shop/targets/deployment.api/x",
        "proxy operator.podtap.dev v1 shop targets - deployment.api",
    ),
    (
        "DELETE",
        "/apis/operator.podtap.dev/v1/sessions/abc",
        "delete operator.podtap.dev v1 - sessions - abc",
    ),
]


@pytest.mark.parametrize(("method", "path", "expected"), RESOURCE_CASES)
def test_resource_requests_read_as_upstream(method: str, path: str, expected: str) -> None:
    info = request_info(method, path)
    assert info.is_resource_request
    got = [info.verb, info.api_group, info.api_version, info.namespace, info.resource]
    got += [info.subresource, info.name]
    assert " ".join(x or "-" for x in got) == expected


def test_proxy_keeps_the_path_after_the_name_as_parts() -> None:
    info = request_info("GET", "/api/v1/proxy/namespaces/other/pods/foo/subpath/not/a/subresource")
    assert info.parts == ("pods", "foo", "subpath", "not", "a", "subresource")


@pytest.mark.parametrize(
    ("query", "verb"),
    [
        ({"watch": ["true"]}, "watch"),
        ({"watch": ["True"]}, "watch"),  # kubernetes_asyncio writes Python's spelling
        ({"watch": ["1"]}, "watch"),
        ({"watch": ["false"]}, "list"),
        ({"watch": ["0"]}, "list"),
        ({"watch": ["yes-please"]}, "watch"),  # undecodable: the factory's fallback
        ({}, "list"),
    ],
)
def test_watch_parameter(query: dict[str, list[str]], verb: str) -> None:
    assert request_info("GET", "/api/v1/namespaces/other/pods", query).verb == verb


@pytest.mark.parametrize(
    ("selector", "name"),
    [
        ("metadata.name=foo", "foo"),
        ("metadata.name==foo", "foo"),
        ("status.phase=Running,metadata.name=foo", "foo"),
        ("metadata.name!=foo", ""),
        ("metadata.name=foo/bar", ""),
        ("metadata.name=..", ""),
        ("spec.nodeName=foo", ""),
    ],
)
def test_a_field_selector_on_the_name_names_the_object(selector: str, name: str) -> None:
    info = request_info("GET", "/api/v1/namespaces/other/pods", {"fieldSelector": [selector]})
    assert (info.verb, info.name) == ("list", name)


@pytest.mark.parametrize(
    "path", ["/", "/api", "/apis", "/api/v1", "/apis/extensions/v1beta1", "/healthz", "/other/x/y"]
)
def test_non_resource_requests(path: str) -> None:
    info = request_info("GET", path)
    assert not info.is_resource_request
    assert info.verb == "get"


def test_a_special_verb_without_a_resource_is_an_error() -> None:
    with pytest.raises(ValueError, match="unable to determine kind and namespace"):
        request_info("GET", "/api/v1/proxy")
