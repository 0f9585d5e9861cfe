"""What a request path asks for, as kube-apiserver reads it (``RequestInfoFactory``).

RBAC authorizes attributes, not paths: ``GET /apis/g/v/namespaces/ns/things`` is ``list``,
``GET /apis/g/v/proxy/namespaces/ns/targets/t/anything`` is ``proxy`` on the target ``t``
(``proxy`` takes no subresource: what follows the name is the proxied path), ``?watch=1`` on a
collection is ``watch``, ``DELETE`` of a collection is ``deletecollection``. The aggregator
and every aggregated server (podtap's operator) must read a path the same way, or a
ClusterRole would grant something other than it says; this is the one reading.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from podtap.core.kube.rbac import Attributes
from podtap.core.kube.users import UserInfo

__all__ = ["RequestInfo", "request_info"]

_PREFIXES = ("api", "apis")
_GROUPLESS = ("api",)
_SPECIAL_VERBS = ("proxy", "watch")
_NO_SUBRESOURCE = ("proxy",)
_NAMESPACE_SUBRESOURCES = ("status", "finalize")
_METHOD_VERBS = {
    "POST": "create",
    "GET": "get",
    "HEAD": "get",
    "PUT": "update",
    "PATCH": "patch",
    "DELETE": "delete",
}
_TRUE = ("1", "t", "T", "TRUE", "true", "True")
_FALSE = ("0", "f", "F", "FALSE", "false", "False")


@dataclass(frozen=True, slots=True, kw_only=True)
class RequestInfo:
    """``request.RequestInfo``: the verb and, for a resource request, what it names."""

    is_resource_request: bool
    path: str
    verb: str
    api_prefix: str = ""
    api_group: str = ""
    api_version: str = ""
    namespace: str = ""
    resource: str = ""
    subresource: str = ""
    name: str = ""
    parts: tuple[str, ...] = ()

    def attributes(self, user: UserInfo) -> Attributes:
        """What RBAC is asked for this request by `user`."""
        if not self.is_resource_request:
            return Attributes(user, self.verb, resource_request=False, path=self.path)
        return Attributes(
            user,
            self.verb,
            api_group=self.api_group,
            api_version=self.api_version,
            resource=self.resource,
            subresource=self.subresource,
            name=self.name,
            namespace=self.namespace,
        )

    def resource_attributes(self) -> dict[str, str]:
        """The `resourceAttributes` of a SubjectAccessReview for this request."""
        return {
            "verb": self.verb,
            "group": self.api_group,
            "version": self.api_version,
            "resource": self.resource,
            "subresource": self.subresource,
            "name": self.name,
            "namespace": self.namespace,
        }


def _watching(query: Mapping[str, Sequence[str]]) -> bool:
    """``watch`` decoded as Go's ParseBool would; a value it cannot read still means a watch
    when it is not ``false``/``0`` (the factory's fallback when decoding fails)."""
    values = query.get("watch") or ()
    if not values:
        return False
    value = values[0]
    if value in _TRUE:
        return True
    if value in _FALSE:
        return False
    return value.lower() not in ("false", "0")


def _name_from_field_selector(query: Mapping[str, Sequence[str]]) -> str:
    """A ``metadata.name=N`` (or ``==``) term of the field selector names the object, as
    ``RequiresExactMatch`` finds it among the terms; a name that is no path segment does not."""
    values = query.get("fieldSelector") or ()
    for term in values[0].split(",") if values else ():
        key, sep, value = term.partition("==") if "==" in term else term.partition("=")
        if not sep or key.strip() != "metadata.name" or key.endswith("!"):
            continue
        name = value.strip()
        if name not in (".", "..") and "/" not in name and "%" not in name:
            return name
    return ""


def request_info(
    method: str, path: str, query: Mapping[str, Sequence[str]] | None = None
) -> RequestInfo:
    """The attributes of ``method path?query`` (query values as lists, as a URL has them)."""
    query = query or {}
    parts = [p for p in path.strip("/").split("/") if p]
    plain = RequestInfo(is_resource_request=False, path=path, verb=method.lower())
    if len(parts) < 3 or parts[0] not in _PREFIXES:
        return plain
    prefix, rest = parts[0], parts[1:]
    group = ""
    if prefix not in _GROUPLESS:
        if len(rest) < 3:
            return plain
        group, rest = rest[0], rest[1:]
    version, rest = rest[0], rest[1:]
    if rest and rest[0] in _SPECIAL_VERBS:
        if len(rest) < 2:
            raise ValueError(f"unable to determine kind and namespace from url {path}")
        verb, rest = rest[0], rest[1:]
    else:
        verb = _METHOD_VERBS.get(method.upper(), "")
    namespace = ""
    if rest and rest[0] == "namespaces" and len(rest) > 1:
        namespace = rest[1]
        if len(rest) > 2 and rest[2] not in _NAMESPACE_SUBRESOURCES:
            rest = rest[2:]
    resource = rest[0] if rest else ""
    name = rest[1] if len(rest) > 1 else ""
    sub = rest[2] if len(rest) > 2 and verb not in _NO_SUBRESOURCE else ""
    if not name and verb == "get":
        verb = "watch" if _watching(query) else "list"
        name = _name_from_field_selector(query)
    if not name and verb == "delete":
        verb = "deletecollection"
    return RequestInfo(
        is_resource_request=True,
        path=path,
        verb=verb,
        api_prefix=prefix,
        api_group=group,
        api_version=version,
        namespace=namespace,
        resource=resource,
        subresource=sub,
        name=name,
        parts=tuple(rest),
    )
