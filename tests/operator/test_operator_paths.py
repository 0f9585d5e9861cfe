"""The operator's API as an aggregated API: discovery the kube-apiserver can list, and each
path read as the RBAC attributes that a ClusterRole grants (`core.operator_paths`)."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from pathlib import Path

import pytest

from podtap.client.host.operator_api import OperatorAddress, OperatorApi, OperatorRefused
from podtap.core import operator_paths as paths
from podtap.core.kube.request_info import request_info
from podtap.core.targets import TargetRef
from podtap.testing.opclient import operator_session
from tests.operator.inproc import OnePodCluster, operator


def run(state: Path, test: Callable[[OperatorAddress], Awaitable[None]]) -> None:
    async def go() -> None:
        async with operator(state, cluster=OnePodCluster(agents=True)) as (_, sock):
            await test(OperatorAddress(f"unix:{sock}"))

    asyncio.run(go())


def test_discovery_lists_the_resources_a_role_grants(tmp_path: Path) -> None:
    async def test(address: OperatorAddress) -> None:
        api = OperatorApi(address)
        listed = await api.call("GET", "")
        assert listed["groupVersion"] == "operator.podtap.dev/v1"
        verbs = {r["name"]: r["verbs"] for r in listed["resources"]}
        assert verbs["targets"] == ["list", "proxy"]
        assert "kill" in verbs["sessions"] and verbs["operators"] == ["get"]
        assert {r["name"]: r["namespaced"] for r in listed["resources"]} == {
            "targets": True,
            "sessions": False,
            "operators": False,
        }

    run(tmp_path, test)


def test_one_session_by_id_and_prune_by_delete(tmp_path: Path) -> None:
    async def test(address: OperatorAddress) -> None:
        api = OperatorApi(address)
        async with operator_session(address, "deployment/web") as (session, _):
            shown = await api.call("GET", f"/sessions/{session.label}")
            assert shown["id"] == session.label and shown["connected"]
            pruned = await api.call("DELETE", "/sessions?detached=true")
            assert pruned == {"pruned": []}  # it has a client: not pruned
        with pytest.raises(OperatorRefused, match="no session 00000000000000AB") as refused:
            await api.call("GET", "/sessions/00000000000000AB")
        assert refused.value.status == 404

    run(tmp_path, test)


def test_a_session_names_its_container_in_the_path(tmp_path: Path) -> None:
    async def test(address: OperatorAddress) -> None:
        async with operator_session(address, "deployment/web/container/app") as (session, _):
            assert session.label

    run(tmp_path, test)


def test_each_path_means_what_the_roles_say() -> None:
    """The attributes the API server derives from each path (what RBAC sees)."""
    target = TargetRef.parse("deployment/shop/container/app")
    connect = request_info("GET", paths.connect_path("team-a", target))
    assert (connect.verb, connect.resource, connect.name, connect.namespace) == (
        "proxy",
        "targets",
        "deployment.shop",
        "team-a",
    )
    listing = request_info("GET", paths.targets_path("team-a"))
    assert (listing.verb, listing.resource) == ("list", "targets")
    kill = request_info("DELETE", paths.session_path("00000000000000AB"))
    assert (kill.verb, kill.resource, kill.name) == ("delete", "sessions", "00000000000000AB")
    every = request_info("DELETE", paths.sessions_path(), {"key": ["k"]})
    assert (every.verb, every.resource) == ("deletecollection", "sessions")
    status = request_info("GET", paths.operator_path())
    assert (status.verb, status.resource, status.name) == ("get", "operators", "operator")
