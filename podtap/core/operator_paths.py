"""The operator's API: one set of paths, shaped as a Kubernetes aggregated API.

The same paths serve a client on the operator's Unix socket and one relayed by the
kube-apiserver through the ``APIService`` ``v1.operator.podtap.dev``. Each path is chosen
for the RBAC attributes the API server derives from it (`core.kube.request_info`), so that
a ClusterRole says plainly who may do what:

==============================================  =========================================
path under ``/apis/operator.podtap.dev/v1``      RBAC (resource, verb)
==============================================  =========================================
``namespaces/NS/targets``                        ``targets`` list
``proxy/namespaces/NS/targets/KIND.NAME[/..]``   ``targets`` proxy, ``resourceNames`` the
                                                 target (a session: WebSocket upgrade)
``sessions``, ``sessions/ID``                    ``sessions`` list, get
``DELETE sessions/ID``                           ``sessions`` delete (own; anyone's with
                                                 the ``kill`` verb too)
``DELETE sessions[?key=K|?detached=true]``       ``sessions`` deletecollection
``operators/operator``                           ``operators`` get (``podtap operator status``)
==============================================  =========================================
"""

from __future__ import annotations

from typing import Any, Final

from podtap.core.targets import TargetRef

GROUP: Final = "operator.podtap.dev"
VERSION: Final = "v1"
API: Final = f"/apis/{GROUP}/{VERSION}"
OPERATOR_NAME: Final = "operator"
KILL_ANY_VERB: Final = "kill"
"""The verb on ``sessions`` that lets a user end other users' sessions (admins)."""

__all__ = [
    "API",
    "GROUP",
    "KILL_ANY_VERB",
    "OPERATOR_NAME",
    "VERSION",
    "api_group",
    "api_resource_list",
    "connect_path",
    "operator_path",
    "session_path",
    "sessions_path",
    "target_segment",
    "targets_path",
]


def target_segment(target: TargetRef) -> str:
    """``deployment.shop`` (and ``/container/app`` when one is named): the target as the
    resource name RBAC grants, then the part of the path it does not read."""
    base = f"{target.kind}.{target.name}"
    return f"{base}/container/{target.container}" if target.container else base


def targets_path(namespace: str) -> str:
    return f"{API}/namespaces/{namespace}/targets"


def connect_path(namespace: str, target: TargetRef) -> str:
    return f"{API}/proxy/namespaces/{namespace}/targets/{target_segment(target)}"


def sessions_path() -> str:
    return f"{API}/sessions"


def session_path(label: str) -> str:
    return f"{API}/sessions/{label}"


def operator_path() -> str:
    return f"{API}/operators/{OPERATOR_NAME}"


_RESOURCES: Final = (
    ("targets", "Target", True, ("list", "proxy")),
    ("sessions", "Session", False, ("get", "list", "delete", "deletecollection", KILL_ANY_VERB)),
    ("operators", "Operator", False, ("get",)),
)


def api_resource_list() -> dict[str, Any]:
    """``GET /apis/operator.podtap.dev/v1``: what the aggregator lists in discovery."""
    return {
        "kind": "APIResourceList",
        "apiVersion": "v1",
        "groupVersion": f"{GROUP}/{VERSION}",
        "resources": [
            {
                "name": name,
                "singularName": name.removesuffix("s"),
                "namespaced": namespaced,
                "kind": kind,
                "verbs": list(verbs),
                "categories": ["podtap"],
            }
            for name, kind, namespaced, verbs in _RESOURCES
        ],
    }


def api_group() -> dict[str, Any]:
    """``GET /apis/operator.podtap.dev``."""
    version = {"groupVersion": f"{GROUP}/{VERSION}", "version": VERSION}
    return {
        "kind": "APIGroup",
        "apiVersion": "v1",
        "name": GROUP,
        "versions": [version],
        "preferredVersion": version,
    }
