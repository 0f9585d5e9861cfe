"""The request-header authenticator: which relayed identities an aggregated server believes."""

from __future__ import annotations

import json

import pytest

from podtap.core.kube.requestheader import (
    NotAuthenticated,
    RequestHeaderConfig,
    identity_from_headers,
)

CA = "-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----\n"
CONFIGMAP = {  # as kube-apiserver publishes it (kube-system/extension-apiserver-authentication)
    "client-ca-file": CA,
    "requestheader-client-ca-file": CA,
    "requestheader-allowed-names": json.dumps(["front-proxy-client"]),
    "requestheader-username-headers": json.dumps(["X-Remote-User"]),
    "requestheader-group-headers": json.dumps(["X-Remote-Group"]),
    "requestheader-extra-headers-prefix": json.dumps(["X-Remote-Extra-"]),
}


def config(**changes: str) -> RequestHeaderConfig:
    return RequestHeaderConfig.from_configmap({**CONFIGMAP, **changes})


def test_the_relayed_user_groups_and_extra() -> None:
    headers = [
        ("X-Remote-User", "alice"),
        ("X-Remote-Group", "dev"),
        ("x-remote-group", "system:authenticated"),
        ("X-Remote-Extra-Scopes", "a"),
        ("X-Remote-Extra-Scopes", "b"),
        ("X-Remote-Extra-Authentication.kubernetes.io%2fpod-Name", "web-1"),
    ]
    user = identity_from_headers(headers, config=config(), client_common_name="front-proxy-client")
    assert user.name == "alice"
    assert user.groups == ("dev", "system:authenticated")
    assert dict(user.extra) == {
        "scopes": ("a", "b"),
        "authentication.kubernetes.io/pod-name": ("web-1",),
    }


def test_headers_without_a_verified_certificate_are_not_believed() -> None:
    with pytest.raises(NotAuthenticated, match="through the Kubernetes API server"):
        identity_from_headers(
            [("X-Remote-User", "admin")], config=config(), client_common_name=None
        )


def test_a_certificate_not_in_the_allowed_names_is_refused() -> None:
    with pytest.raises(NotAuthenticated, match="'mallory' is not one of"):
        identity_from_headers(
            [("X-Remote-User", "admin")], config=config(), client_common_name="mallory"
        )


def test_an_empty_allowed_list_allows_any_verified_certificate() -> None:
    cfg = config(**{"requestheader-allowed-names": "[]"})
    user = identity_from_headers([("X-Remote-User", "bob")], config=cfg, client_common_name="x")
    assert user.name == "bob"


def test_the_first_non_empty_user_header_wins() -> None:
    cfg = config(**{"requestheader-username-headers": '["X-User", "X-Remote-User"]'})
    headers = [("X-Remote-User", "second"), ("X-User", ""), ("X-User", "ignored")]
    user = identity_from_headers(headers, config=cfg, client_common_name="front-proxy-client")
    assert user.name == "second"


def test_no_user_header_is_not_authenticated() -> None:
    with pytest.raises(NotAuthenticated, match="no user in the request headers"):
        identity_from_headers(
            [("X-Remote-Group", "dev")], config=config(), client_common_name="front-proxy-client"
        )


def test_a_configmap_without_the_request_header_ca_says_what_the_server_lacks() -> None:
    data = {k: v for k, v in CONFIGMAP.items() if k != "requestheader-client-ca-file"}
    with pytest.raises(ValueError, match="--requestheader-client-ca-file"):
        RequestHeaderConfig.from_configmap(data)


def test_a_malformed_list_is_named() -> None:
    with pytest.raises(ValueError, match="requestheader-group-headers is not a JSON list"):
        config(**{"requestheader-group-headers": "X-Remote-Group"})
