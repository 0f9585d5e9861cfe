"""The 403 a request gets when no authorizer allows it, worded as kube-apiserver words it.

``responsewriters.Forbidden``: ``User "alice" cannot list resource "pods" in API group "" in the
namespace "default"``, ``... at the cluster scope`` without a namespace, ``User "alice" cannot
get path "/metrics"`` for a non-resource request; the authorizers' reason, when there is one,
follows after ``: ``. It is wrapped by ``errors.NewForbidden`` for the request's group, resource
and name (``pods is forbidden: ...``, ``pods "web-1" is forbidden: ...``, or ``forbidden: ...``
for a path), and ``&``, ``<``, ``>`` are HTML-escaped as the server does, so no user-chosen
name reaches a browser as markup.
"""

from __future__ import annotations

from podtap.core.kube.goquote import go_quote
from podtap.core.kube.rbac import Attributes
from podtap.core.kube.refusal import Refusal, forbidden

__all__ = ["forbidden_message", "request_forbidden"]


def _sanitize(text: str) -> str:
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def forbidden_message(attrs: Attributes) -> str:
    """``forbiddenMessage``: who cannot do what, where."""
    user = go_quote(attrs.user.name)
    if not attrs.resource_request:
        return f"User {user} cannot {attrs.verb} path {go_quote(attrs.path)}"
    resource = f"{attrs.resource}/{attrs.subresource}" if attrs.subresource else attrs.resource
    where = (
        f"in the namespace {go_quote(attrs.namespace)}"
        if attrs.namespace
        else "at the cluster scope"
    )
    return (
        f"User {user} cannot {attrs.verb} resource {go_quote(resource)} "
        f"in API group {go_quote(attrs.api_group)} {where}"
    )


def request_forbidden(attrs: Attributes, reason: str = "") -> Refusal:
    """The whole 403 for ``attrs``, with the authorizers' ``reason`` appended when not empty."""
    message = _sanitize(forbidden_message(attrs))
    if reason:
        message = f"{message}: {reason}"
    return forbidden(group=attrs.api_group, resource=attrs.resource, name=attrs.name, error=message)
