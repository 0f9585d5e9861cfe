"""One line for each way the kube-apiserver refuses a request for the operator's API.

The API server answers for itself with a ``Status`` (the operator's own refusals are
``{"error": ...}`` and pass through as they are): 401 its authenticators did not accept the
kubeconfig's credentials; 403 RBAC denied (its message names the user, verb, resource and
name, to which we add what to ask an admin for); 404 for the group itself: no APIService,
no operator installed; 503 the APIService is there but its backend, the operator, is not
answering. Pure: status, body and path in, text out.
"""

from __future__ import annotations

from typing import Any
from urllib.parse import parse_qs, urlsplit

from podtap.core import operator_paths as paths
from podtap.core.kube.request_info import request_info

APISERVICE = f"{paths.VERSION}.{paths.GROUP}"
NOT_INSTALLED = (
    f"no podtap operator is installed in this cluster (no APIService {APISERVICE}): "
    "helm install podtap charts/podtap-operator (see docs/install.md)"
)


def is_status(body: Any) -> bool:
    return isinstance(body, dict) and body.get("kind") == "Status"


def grant(method: str, path: str) -> str:
    """What RBAC must grant for `method path`: ``operator.podtap.dev targets/deployment.shop
    proxy in namespace default``."""
    split = urlsplit(path)
    info = request_info(method, split.path, parse_qs(split.query))
    resource = info.resource + (f"/{info.subresource}" if info.subresource else "")
    named = f"{resource}/{info.name}" if info.name else resource
    where = f" in namespace {info.namespace}" if info.namespace else ""
    return f"{info.api_group or paths.GROUP} {named} {info.verb}{where}"


def refusal_line(status: int, body: Any, *, server: str, method: str, path: str) -> str | None:
    """The line for a refusal by the API server itself; None if the operator answered."""
    if not is_status(body):
        return None
    message = str(body.get("message") or body.get("reason") or status)
    if status == 401:
        return f"your kubeconfig's credentials were refused by {server}: {message}"
    if status == 403:
        return f"{message}; ask a cluster admin for {grant(method, path)}"
    if status == 404 and body.get("reason") == "NotFound" and not _names_object(body):
        return f"{NOT_INSTALLED} [{server}]"
    if status == 503:
        return (
            f"the APIService {APISERVICE} on {server} is not available ({message}): "
            "the operator is down or starting; see kubectl get apiservice "
            f"{APISERVICE} and the operator's pods"
        )
    return f"{server}: {message}"


def _names_object(body: dict[str, Any]) -> bool:
    """Whether a 404 is about a named object (served by someone) rather than the path."""
    details = body.get("details") or {}
    return bool(details.get("name"))
