"""The operator reached without an APIService: `podtap operator status` finds the operator's
Service, its pod and CA, and talks to the real `podtap operator serve --kube` over
`pods/portforward` of the in-process API server (`tests.client.forwarded`), as a token user
the operator reviews; each way it cannot is one line saying what is missing.
"""

from __future__ import annotations

import asyncio
import json
import subprocess
from collections.abc import Iterator

import pytest

from podtap.client.host.kube_refusals import FORWARD_RULES, NOT_INSTALLED
from podtap.client.host.operator_api import (
    OperatorAddress,
    OperatorApi,
    OperatorRefused,
    OperatorUnavailable,
)
from podtap.client.host.operator_choice import Sources, choose
from podtap.client.host.operator_forward import SELECTOR, operator_service, ready_endpoint
from podtap.client.host.operator_tunnel import ForwardAddress
from podtap.testing.localcluster import podtap_argv
from tests.client.forwarded import HOST, NS, POD, SVC, Cluster, bind, forwarded


@pytest.fixture(scope="module")
def cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Cluster]:
    with forwarded(tmp_path_factory.mktemp("forward")) as running:
        yield running


def test_status_by_port_forward_as_the_token_user(cluster: Cluster) -> None:
    bind(cluster, "alice", cluster_role=True, role=True)
    kubeconfig = cluster.token_kubeconfig("alice")
    done = cluster.podtap(
        kubeconfig, "operator", "status", "-o", "json", "-v", "--operator-via", "port-forward"
    )
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout)["sessions"] == []
    assert f"operator: by port-forward to pod {NS}/{POD}:{cluster.port} through" in done.stderr
    # auto: the cluster has no APIService (discovery 404), so the same
    auto = cluster.podtap(kubeconfig, "operator", "status", "-o", "json")
    assert auto.returncode == 0, auto.stderr


@pytest.mark.parametrize("how", ["tokenFile", "exec"])
def test_a_token_from_a_file_or_a_plugin_proves_the_user(cluster: Cluster, how: str) -> None:
    user = f"ivan-{how.lower()}"
    bind(cluster, user, cluster_role=False, role=True)
    done = cluster.podtap(cluster.kubeconfig_with(user, how), "operator", "status")
    assert done.returncode == 1  # the operator knows them: its own refusal names them
    assert f'User "{user}" cannot get resource "operators"' in done.stderr, done.stderr


def test_a_user_without_rbac_on_operators_gets_the_operators_403_naming_them(
    cluster: Cluster,
) -> None:
    bind(cluster, "bob", cluster_role=False, role=True)
    done = cluster.podtap(
        cluster.token_kubeconfig("bob"), "operator", "status", "--operator-via", "port-forward"
    )
    assert done.returncode == 1
    assert done.stderr.strip().endswith(
        'operators.operator.podtap.dev "operator" is forbidden: User "bob" cannot get resource '
        '"operators" in API group "operator.podtap.dev" at the cluster scope'
    ), done.stderr


def test_a_user_without_the_namespace_role_is_told_what_to_ask_for(cluster: Cluster) -> None:
    bind(cluster, "dave", cluster_role=True, role=False)
    done = cluster.podtap(
        cluster.token_kubeconfig("dave"), "operator", "status", "--operator-via", "port-forward"
    )
    assert done.returncode == 1
    line = done.stderr.strip()
    assert len(line.splitlines()) == 1, line
    assert 'User "dave" cannot list resource "services"' in line
    assert FORWARD_RULES in line and "the chart's Role <release>-podtap-operator-user there" in line


def test_a_user_who_may_not_port_forward_is_told_what_to_ask_for(cluster: Cluster) -> None:
    bind(cluster, "frank", cluster_role=True, role=False)
    lookup = {
        "apiVersion": "rbac.authorization.k8s.io/v1",
        "kind": "Role",
        "metadata": {"name": "lookup-only", "namespace": NS},
        "rules": [
            {"apiGroups": [""], "resources": ["services", "endpoints"], "verbs": ["get", "list"]},
            {"apiGroups": [""], "resources": ["configmaps"], "verbs": ["get"]},
        ],
    }
    cluster.apply(lookup)
    cluster.kubectl(
        "-n", NS, "create", "rolebinding", "frank-lookup", "--role=lookup-only", "--user=frank"
    )
    done = cluster.podtap(
        cluster.token_kubeconfig("frank"), "operator", "status", "--operator-via", "port-forward"
    )
    assert done.returncode == 1
    assert done.stderr.strip() == (
        f"error: {cluster.api.url} refused you pods/portforward to the operator pod {NS}/{POD} "
        f"(403 Forbidden): ask a cluster admin for pods/portforward create in namespace {NS} "
        f"(the Role {SVC}-user)"
    )


def test_a_client_certificate_cannot_prove_itself_through_a_port_forward(cluster: Cluster) -> None:
    kubeconfig = cluster.api.kubeconfig_for(user="erin", groups=("system:masters",))
    done = cluster.podtap(kubeconfig, "operator", "status", "--operator-via", "port-forward")
    assert done.returncode == 1
    line = done.stderr.strip()
    assert "authenticates with a client certificate only" in line, line
    assert "use a kubeconfig with a token" in line and "apiService.enabled=true" in line


def test_another_namespace_has_no_operator(cluster: Cluster) -> None:
    done = cluster.podtap(
        cluster.api.kubeconfig,
        "operator",
        "status",
        "--operator-namespace",
        "default",
        "--operator-via",
        "port-forward",
    )
    assert done.returncode == 1
    assert f"no podtap operator in namespace default (no Service labelled {SELECTOR})" in (
        done.stderr
    )
    auto = cluster.podtap(
        cluster.api.kubeconfig, "operator", "status", "--operator-namespace", "default"
    )
    assert auto.returncode == 1
    assert auto.stderr.strip() == f"error: {NOT_INSTALLED} [{cluster.api.url}]"


def test_a_bad_operator_via_is_one_line() -> None:
    done = subprocess.run(
        podtap_argv("operator", "status", "--operator-via", "ssh"),
        capture_output=True,
        text=True,
        check=False,
    )
    assert done.returncode == 1
    assert "'ssh' is not one of auto, apiservice, port-forward" in done.stderr


def test_the_service_and_its_ready_pod_are_chosen_as_the_chart_labels_them() -> None:
    https = {"spec": {"ports": [{"name": "https", "port": 443}]}}
    services = {"items": [{"metadata": {"name": "podtap-operator"}, **https}]}
    assert operator_service(services, namespace=NS) == "podtap-operator"
    with pytest.raises(OperatorRefused) as none:
        operator_service({"items": []}, namespace=NS)
    assert none.value.status == 404
    two = {"items": [{"metadata": {"name": n}, **https} for n in ("b", "a")]}
    with pytest.raises(
        OperatorRefused, match=r"several podtap operators in namespace podtap \(a, b\)"
    ):
        operator_service(two, namespace=NS)
    ref = {"kind": "Pod", "name": "leader"}
    subsets = [
        {
            "notReadyAddresses": [{"targetRef": {"kind": "Pod", "name": "starting"}}],
            "addresses": [{"targetRef": ref}],
            "ports": [{"name": "metrics", "port": 9090}, {"name": "https", "port": 8443}],
        },
    ]
    assert ready_endpoint({"subsets": subsets}, namespace=NS, service=SVC) == ("leader", 8443)
    with pytest.raises(OperatorUnavailable, match="has no ready pod"):
        ready_endpoint({"subsets": [{**subsets[0], "addresses": []}]}, namespace=NS, service=SVC)


def test_a_session_upgrade_goes_over_the_port_forward_too(cluster: Cluster) -> None:
    bind(cluster, "gina", cluster_role=True, role=True)
    sources = Sources(kubeconfig=str(cluster.token_kubeconfig("gina")), via="port-forward")

    async def go() -> str:
        address = await choose(sources, local=lambda _: OperatorAddress("unix:/nowhere"))
        assert isinstance(address, ForwardAddress) and address.value == f"https://{HOST}"
        with pytest.raises(OperatorRefused) as refused:
            async with OperatorApi(address).connect("deployment/nope", namespace=NS):
                pass
        return str(refused.value)

    # the operator's own answer to the upgrade, and its body fetched the same way
    assert asyncio.run(go()) == (
        f"deployment 'nope' not found in namespace '{NS}' (list targets with `podtap ls`)"
    )


def test_a_call_after_the_pod_went_follows_the_service_to_its_new_pod(cluster: Cluster) -> None:
    bind(cluster, "hana", cluster_role=True, role=True)
    sources = Sources(kubeconfig=str(cluster.token_kubeconfig("hana")), via="port-forward")
    cluster.point_endpoints_at("podtap-operator-gone")  # the pod the lookup will find
    try:

        async def go() -> tuple[str, object]:
            address = await choose(sources, local=lambda _: OperatorAddress("unix:/nowhere"))
            assert isinstance(address, ForwardAddress)
            with pytest.raises(OperatorUnavailable) as gone:
                await OperatorApi(address).call("GET", "/operators/operator")
            cluster.point_endpoints_at(POD)  # a new leader took over
            return str(gone.value), await OperatorApi(address).call("GET", "/operators/operator")

        gone, answer = asyncio.run(go())
    finally:
        cluster.point_endpoints_at(POD)
    assert gone == f"the operator pod {NS}/podtap-operator-gone is gone (a new leader?): try again"
    assert isinstance(answer, dict) and answer["sessions"] == []
