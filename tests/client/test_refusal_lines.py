"""The lines for the kube-apiserver's refusals, from the Status it answers (pure)."""

from __future__ import annotations

import pytest

from podtap.client.host.kube_refusals import NOT_INSTALLED, grant, refusal_line
from podtap.core import operator_paths as paths
from podtap.core.targets import TargetRef

SERVER = "https://api.example:6443"


def status(code: int, reason: str, message: str, **details: str) -> dict[str, object]:
    return {
        "kind": "Status",
        "apiVersion": "v1",
        "status": "Failure",
        "code": code,
        "reason": reason,
        "message": message,
        "details": details,
    }


@pytest.mark.parametrize(
    ("method", "path", "needed"),
    [
        (
            "GET",
            paths.connect_path("shop", TargetRef.parse("deployment/shop/container/app")),
            "operator.podtap.dev targets/deployment.shop proxy in namespace shop",
        ),
        ("GET", paths.targets_path("dev"), "operator.podtap.dev targets list in namespace dev"),
        ("GET", paths.sessions_path(), "operator.podtap.dev sessions list"),
        ("DELETE", paths.session_path("00ff"), "operator.podtap.dev sessions/00ff delete"),
        (
            "DELETE",
            paths.sessions_path() + "?key=k",
            "operator.podtap.dev sessions deletecollection",
        ),
        ("GET", paths.operator_path(), "operator.podtap.dev operators/operator get"),
    ],
)
def test_what_to_ask_an_admin_for(method: str, path: str, needed: str) -> None:
    assert grant(method, path) == needed


def test_each_status_of_the_api_server() -> None:
    def line(code: int, body: object, path: str = paths.sessions_path()) -> str | None:
        return refusal_line(code, body, server=SERVER, method="GET", path=path)

    assert line(401, status(401, "Unauthorized", "Unauthorized")) == (
        f"your kubeconfig's credentials were refused by {SERVER}: Unauthorized"
    )
    denied = 'sessions.operator.podtap.dev is forbidden: User "bo" cannot list resource "sessions"'
    assert line(403, status(403, "Forbidden", denied)) == (
        f"{denied}; ask a cluster admin for operator.podtap.dev sessions list"
    )
    missing = status(404, "NotFound", "the server could not find the requested resource")
    assert line(404, missing) == f"{NOT_INSTALLED} [{SERVER}]"
    gone = status(404, "NotFound", 'sessions "x" not found', name="x")
    assert line(404, gone) == f'{SERVER}: sessions "x" not found'
    down = line(503, status(503, "ServiceUnavailable", "error trying to reach service: EOF"))
    assert down == (
        f"the APIService v1.operator.podtap.dev on {SERVER} is not available (error trying to "
        "reach service: EOF): the operator is down or starting; see kubectl get apiservice "
        "v1.operator.podtap.dev and the operator's pods"
    )


def test_the_operators_own_answers_are_not_the_api_servers() -> None:
    for body in ({"error": "no ready pod"}, None, "plain text", {"kind": "List"}):
        assert refusal_line(409, body, server=SERVER, method="GET", path="/") is None
