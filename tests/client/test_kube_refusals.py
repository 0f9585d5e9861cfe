"""What a user reads when the kube-apiserver refuses them the operator, and a session through
it: RBAC per target (``targets`` ``proxy`` with ``resourceNames``), refused credentials, the
operator down, no operator installed, a server that does not resolve; each one line."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml

from podtap.backends.local.kubeapi.kubeconfig import ADMIN_USER
from podtap.client.host.kube_address import kube_address
from podtap.client.host.kube_refusals import NOT_INSTALLED
from podtap.client.host.operator_api import OperatorApi, OperatorRefused, OperatorUnavailable
from podtap.core import operator_paths as paths
from podtap.core.ids import RequestId
from podtap.core.protocol import EnvRequest, EnvResponse
from podtap.core.targets import TargetRef
from podtap.testing.opclient import operator_session
from tests.client.aggregated import Aggregated, aggregated, operator_running
from tests.kubeapi.server import in_thread, tools

TARGETS = "/namespaces/default/targets"
CAROL_ROLE = {
    "apiVersion": "rbac.authorization.k8s.io/v1",
    "kind": "ClusterRole",
    "metadata": {"name": "web-only"},
    "rules": [
        {"apiGroups": [paths.GROUP], "resources": ["targets"], "verbs": ["list"]},
        {
            "apiGroups": [paths.GROUP],
            "resources": ["targets"],
            "verbs": ["proxy"],
            "resourceNames": ["deployment.web"],
        },
    ],
}
DORA_ROLE = {
    "apiVersion": "rbac.authorization.k8s.io/v1",
    "kind": "ClusterRole",
    "metadata": {"name": "sessions-user"},
    "rules": [
        {"apiGroups": [paths.GROUP], "resources": ["sessions"], "verbs": ["deletecollection"]}
    ],
}


def binding(*, role: str, user: str) -> dict[str, Any]:
    """A ClusterRoleBinding of `role` to `user`."""
    group = "rbac.authorization.k8s.io"
    return {
        "apiVersion": f"{group}/v1",
        "kind": "ClusterRoleBinding",
        "metadata": {"name": f"{user}-{role}"},
        "roleRef": {"apiGroup": group, "kind": "ClusterRole", "name": role},
        "subjects": [{"apiGroup": group, "kind": "User", "name": user}],
    }


@pytest.fixture(scope="module")
def agg(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Aggregated]:
    with aggregated(tools() / "kubectl", tmp_path_factory.mktemp("aggregated")) as running:
        carol = binding(role="web-only", user="carol")
        running.apply(CAROL_ROLE, carol, DORA_ROLE, binding(role="sessions-user", user="dora"))
        yield running


def refusal(config: Path, agg: Aggregated, state: Path, *, target: str | None = None) -> str:
    """The line of the refusal of `GET targets` (or of a session on `target`)."""

    async def go() -> str:
        async with operator_running(agg, state):
            address = await kube_address(files=str(config), context=None)
            with pytest.raises((OperatorRefused, OperatorUnavailable)) as caught:
                if target is None:
                    await OperatorApi(address).call("GET", TARGETS)
                else:
                    async with operator_session(address, target):
                        pass
            return str(caught.value)

    return asyncio.run(go())


def test_a_user_without_rbac_is_told_what_to_ask_for(agg: Aggregated, tmp_path: Path) -> None:
    alice = agg.api.kubeconfig_for(user="alice")
    assert refusal(alice, agg, tmp_path) == (
        'targets.operator.podtap.dev is forbidden: User "alice" cannot list resource "targets" '
        'in API group "operator.podtap.dev" in the namespace "default"; ask a cluster admin '
        "for operator.podtap.dev targets list in namespace default"
    )
    line = refusal(alice, agg, tmp_path, target="deployment/web")
    assert line.endswith(
        'User "alice" cannot proxy resource "targets" in API group "operator.podtap.dev" '
        'in the namespace "default"; ask a cluster admin for '
        "operator.podtap.dev targets/deployment.web proxy in namespace default"
    )
    assert 'targets.operator.podtap.dev "deployment.web" is forbidden' in line


def test_rbac_grants_targets_by_name(agg: Aggregated, tmp_path: Path) -> None:
    carol = agg.api.kubeconfig_for(user="carol")
    line = refusal(carol, agg, tmp_path, target="pod/other/container/app")
    assert line.endswith(
        "ask a cluster admin for operator.podtap.dev targets/pod.other proxy in namespace default"
    )

    async def go() -> None:
        async with operator_running(agg, tmp_path / "state"):
            address = await kube_address(files=str(carol), context=None)
            listed = await OperatorApi(address).call("GET", TARGETS)
            assert "deployment/web" in {i["target"] for i in listed["items"]}

    asyncio.run(go())


def test_a_session_through_the_api_server_is_the_users(agg: Aggregated, tmp_path: Path) -> None:
    carol = agg.api.kubeconfig_for(user="carol")

    async def go() -> None:
        async with operator_running(agg, tmp_path / "state"):
            address = await kube_address(files=str(carol), context=None)
            agg.seen.clear()
            async with operator_session(address, "deployment/web") as (_, peer):
                await peer.send(EnvRequest(request=RequestId(3)))
                answer = await peer.expect(EnvResponse, timeout=5)
                assert answer.env["GREETING"] == "hello"
            connect = paths.connect_path("default", TargetRef.parse("deployment/web"))
            assert [s["user"] for s in agg.seen if s["path"] == connect] == ["carol"]

    asyncio.run(go())


def test_the_operators_own_refusal_passes_as_it_is(agg: Aggregated, tmp_path: Path) -> None:
    """RBAC lets dora delete sessions; the operator, knowing her from the API server's
    headers, refuses her every session (no kill verb: not an admin), in its own words."""
    dora = agg.api.kubeconfig_for(user="dora")

    async def go() -> str:
        async with operator_running(agg, tmp_path / "state"):
            address = await kube_address(files=str(dora), context=None)
            with pytest.raises(OperatorRefused) as caught:
                await OperatorApi(address).call("DELETE", "/sessions")
            assert caught.value.status == 403
            return str(caught.value)

    assert asyncio.run(go()) == (
        "killing every session needs admin rights "
        "(root, or a member of the operator's admin groups)"
    )


def test_refused_credentials_name_the_server(agg: Aggregated, tmp_path: Path) -> None:
    config = yaml.safe_load(agg.api.kubeconfig.read_text())
    config["users"][0]["user"] = {"token": "not-a-token"}
    path = tmp_path / "kubeconfig"
    path.write_text(yaml.safe_dump(config))
    assert refusal(path, agg, tmp_path) == (
        f"your kubeconfig's credentials were refused by {agg.api.url}: Unauthorized"
    )


def test_the_operator_down_is_a_503_that_says_so(agg: Aggregated, tmp_path: Path) -> None:
    agg.kubectl_run("delete", "endpoints", "operator", "-n", "podtap")
    try:
        line = refusal(agg.api.kubeconfig, agg, tmp_path)
    finally:
        agg.kubectl_run("apply", "-f", str(agg.endpoints))
    assert line.startswith(
        f"the APIService v1.operator.podtap.dev on {agg.api.url} is not available"
    )
    assert 'no endpoints available for service "podtap/operator"' in line
    assert "the operator is down or starting" in line


def test_no_operator_installed(tmp_path: Path) -> None:
    with in_thread() as bare:

        async def go() -> str:
            address = await kube_address(files=str(bare.kubeconfig), context=None)
            with pytest.raises(OperatorRefused) as caught:
                await OperatorApi(address).call("GET", "")
            return str(caught.value)

        assert asyncio.run(go()) == f"{NOT_INSTALLED} [{bare.url}]"


def test_a_server_that_does_not_resolve_is_named(agg: Aggregated, tmp_path: Path) -> None:
    config = yaml.safe_load(agg.api.kubeconfig.read_text())
    config["clusters"][0]["cluster"]["server"] = "https://api.no-such-host.invalid:6443"
    path = tmp_path / "kubeconfig"
    path.write_text(yaml.safe_dump(config))
    line = refusal(path, agg, tmp_path)
    assert line.startswith(
        "cannot reach the Kubernetes API server https://api.no-such-host.invalid:6443 "
        f"of kubeconfig {path} (the current context): "
    )
    assert "\n" not in line and ADMIN_USER not in line
