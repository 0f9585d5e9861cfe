"""Who a request relayed by the aggregator is from: the request-header authenticator.

An aggregated API server (podtap's operator) never sees the user's credentials: the
kube-apiserver authenticates them, authorizes the request, and relays it with the identity in
headers (``X-Remote-User``, ``X-Remote-Group``, ``X-Remote-Extra-KEY``), over TLS with its
front-proxy client certificate. Those headers are believed only on a connection whose client
certificate chains to ``requestheader-client-ca-file`` and, when the list is not empty, whose
common name is in ``requestheader-allowed-names`` — everyone else could write the same
headers. What to trust is published in ``kube-system/extension-apiserver-authentication``;
this module reads that ConfigMap and the headers (the TLS check is the caller's), as
``k8s.io/apiserver/pkg/authentication/request/headerrequest`` does.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from urllib.parse import unquote

from podtap.core.kube.users import UserInfo

__all__ = [
    "CONFIGMAP_NAME",
    "CONFIGMAP_NAMESPACE",
    "NotAuthenticated",
    "RequestHeaderConfig",
    "identity_from_headers",
]

CONFIGMAP_NAMESPACE = "kube-system"
CONFIGMAP_NAME = "extension-apiserver-authentication"


class NotAuthenticated(Exception):
    """The request carries no identity this server may believe; the message says why."""


@dataclass(frozen=True, slots=True, kw_only=True)
class RequestHeaderConfig:
    """The request-header part of ``extension-apiserver-authentication``."""

    client_ca_pem: str
    allowed_names: tuple[str, ...] = ()
    username_headers: tuple[str, ...] = ("X-Remote-User",)
    uid_headers: tuple[str, ...] = ()
    group_headers: tuple[str, ...] = ("X-Remote-Group",)
    extra_prefixes: tuple[str, ...] = ("X-Remote-Extra-",)

    @classmethod
    def from_configmap(cls, data: Mapping[str, str]) -> RequestHeaderConfig:
        """The config from the ConfigMap's ``data``; ValueError naming a key that is missing
        or not a JSON list of strings."""
        ca = data.get("requestheader-client-ca-file", "")
        if "BEGIN CERTIFICATE" not in ca:
            raise ValueError(
                f"{CONFIGMAP_NAMESPACE}/{CONFIGMAP_NAME} has no requestheader-client-ca-file: "
                "the API server does not relay identities to aggregated APIs "
                "(kube-apiserver needs --requestheader-client-ca-file)"
            )

        def strings(key: str, default: tuple[str, ...]) -> tuple[str, ...]:
            text = data.get(key)
            if text is None:
                return default
            try:
                value = json.loads(text)
            except json.JSONDecodeError:
                value = None
            if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
                raise ValueError(f"{CONFIGMAP_NAME}: {key} is not a JSON list of strings")
            return tuple(value)

        return cls(
            client_ca_pem=ca,
            allowed_names=strings("requestheader-allowed-names", ()),
            username_headers=strings("requestheader-username-headers", ()),
            uid_headers=strings("requestheader-uid-headers", ()),
            group_headers=strings("requestheader-group-headers", ()),
            extra_prefixes=strings("requestheader-extra-headers-prefix", ()),
        )

    def allows_client(self, common_name: str | None) -> bool:
        """Whether a verified front-proxy certificate with this CN may assert identities."""
        if common_name is None:
            return False
        return not self.allowed_names or common_name in self.allowed_names


Headers = Iterable[tuple[str, str]]
"""A request's headers in order, a name repeated once per value."""


def _all(headers: list[tuple[str, str]], names: tuple[str, ...]) -> list[str]:
    """Every non-empty value of the named headers, header by header (``allHeaderValues``)."""
    return [v for n in names for k, v in headers if k.lower() == n.lower() and v]


def _first(headers: list[tuple[str, str]], names: tuple[str, ...]) -> str:
    """The first value of the first named header whose first value is not empty."""
    for n in names:
        value = next((v for k, v in headers if k.lower() == n.lower()), "")
        if value:
            return value
    return ""


def identity_from_headers(
    headers: Headers, *, config: RequestHeaderConfig, client_common_name: str | None
) -> UserInfo:
    """The user a relayed request is from. ``client_common_name`` is the CN of the TLS client
    certificate *already verified* against ``config.client_ca_pem`` (None: no certificate, or
    one that did not verify); NotAuthenticated when it may not assert identities or names
    no user."""
    if client_common_name is None:
        raise NotAuthenticated(
            "no verified front-proxy client certificate: "
            "reach the operator through the Kubernetes API server"
        )
    if not config.allows_client(client_common_name):
        raise NotAuthenticated(
            f"client certificate {client_common_name!r} is not one of the "
            f"requestheader-allowed-names {list(config.allowed_names)}"
        )
    listed = list(headers)
    name = _first(listed, config.username_headers)
    if not name:
        raise NotAuthenticated(
            f"no user in the request headers ({', '.join(config.username_headers) or 'none'})"
        )
    extra: dict[str, tuple[str, ...]] = {}
    for prefix in config.extra_prefixes:  # prefix by prefix, for the order of the values
        for key, value in listed:
            if key.lower().startswith(prefix.lower()):
                extra_key = unquote(key[len(prefix) :].lower())
                extra[extra_key] = (*extra.get(extra_key, ()), value)
    return UserInfo(
        name=name,
        groups=tuple(_all(listed, config.group_headers)),
        uid=_first(listed, config.uid_headers),
        extra=extra,
    )
