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


# Without an APIService: the port-forward to the operator's pod (`operator_forward`).

FORWARD_RULES = "pods/portforward create, services and endpoints get/list, configmaps get"


def no_operator_service(namespace: str, selector: str) -> str:
    return (
        f"no podtap operator in namespace {namespace} (no Service labelled {selector}) and "
        f"no APIService {APISERVICE}: helm install podtap charts/podtap-operator -n "
        f"{namespace} (see docs/install.md), or name its namespace with --operator-namespace"
    )


def forward_refused(
    status: int, body: Any, *, server: str, namespace: str, role: str, reason: str
) -> str:
    """The line for a refused look-up of the operator's Service, endpoints or CA."""
    message = str(body.get("message") or status) if is_status(body) else reason or str(status)
    if status == 401:
        return f"your kubeconfig's credentials were refused by {server}: {message}"
    if status == 403:
        return (
            f"{message}; reaching the operator by port-forward (no APIService {APISERVICE}) "
            f"needs {FORWARD_RULES} in namespace {namespace}: ask a cluster admin to bind you "
            f"the chart's Role {role} there"
        )
    return f"{server}: {message}"


def forward_stream_refused(status: int, *, server: str, namespace: str, pod: str, role: str) -> str:
    """The line for a refused `pods/portforward` to the operator's pod."""
    if status == 403:
        return (
            f"{server} refused you pods/portforward to the operator pod {namespace}/{pod} "
            f"(403 Forbidden): ask a cluster admin for pods/portforward create in namespace "
            f"{namespace} (the Role {role})"
        )
    if status == 401:
        return f"your kubeconfig's credentials were refused by {server} (401 Unauthorized)"
    if status == 404:
        return f"the operator pod {namespace}/{pod} is gone (a new leader?): try again"
    return f"{server} refused the port-forward to {namespace}/{pod} ({status})"


def certificate_only(where: str) -> str:
    return (
        f"{where} authenticates with a client certificate only, which the operator cannot "
        f"verify through a port-forward (no APIService {APISERVICE} here): use a kubeconfig "
        "with a token (token, tokenFile or an exec plugin that gives one), or ask a cluster "
        "admin for the APIService (the chart's apiService.enabled=true)"
    )
