"""The local ClusterBackend against a real cluster: what the operator will rely on."""

from __future__ import annotations

import asyncio
import os
from pathlib import Path

import pytest

from podtap.backends.base import TargetError, TargetNotFound, TargetRef
from podtap.backends.local.backend import LocalBackend
from podtap.backends.local.paths import ClusterPaths
from podtap.testing.localcluster import LocalCluster


def backend(cluster: LocalCluster) -> LocalBackend:
    return LocalBackend(ClusterPaths(cluster.state_home / "local" / cluster.name))


def test_resolve_deployment_to_a_running_container(shop: LocalCluster) -> None:
    async def go() -> None:
        b = backend(shop)
        resolved = await b.resolve(TargetRef.parse("deployment/shop"), namespace="default")
        (pod,) = shop.pods("shop-")
        assert resolved.pod.name == pod["name"] and resolved.pod.ip == pod["ip"]
        assert resolved.container.name == "frontend" and resolved.container.ports == (8080,)
        assert os.readlink(resolved.netns_path) != os.readlink("/proc/self/ns/net")
        greeting = Path(resolved.root_path, "etc/shop/config/greeting").read_text()
        assert greeting == "Welcome to the podtap shop"
        env = await b.container_env(resolved)
        assert env["SHOP_API_KEY"] == "s3cr3t-key-42" and env["HOSTNAME"] == pod["name"]
        via_service = await b.resolve(TargetRef.parse("svc/catalog"), namespace="default")
        assert via_service.pod.name.startswith("catalog-")

    asyncio.run(go())


def test_targets_are_listed_and_bad_ones_explained(shop: LocalCluster) -> None:
    async def go() -> None:
        b = backend(shop)
        targets = {str(t.target) for t in await b.list_targets(namespace="default")}
        assert {"deployment/shop", "deployment/catalog", "service/shop"} <= targets
        assert any(t.startswith("pod/catalog-") for t in targets)
        with pytest.raises(TargetNotFound, match="podtap ls"):
            await b.resolve(TargetRef.parse("deployment/nope"), namespace="default")
        with pytest.raises(TargetNotFound, match="no container 'x'"):
            await b.resolve(TargetRef.parse("deployment/shop/container/x"), namespace="default")

    asyncio.run(go())
    with pytest.raises(TargetError, match="KIND/NAME"):
        TargetRef.parse("shop")


def test_custom_resources_are_stored_listed_and_watched(shop: LocalCluster) -> None:
    async def go() -> None:
        b = backend(shop)
        obj = {
            "apiVersion": "podtap.dev/v1",
            "kind": "PodtapProfile",
            "metadata": {"name": "fast", "namespace": "default"},
            "spec": {"feature": {"network": {"incoming": "steal"}}},
        }
        events = b.watch_resources("PodtapProfile")
        assert (await asyncio.wait_for(anext(events), 10)).type == "BOOKMARK"
        assert await b.put_resource(obj) == "created"
        seen = await asyncio.wait_for(anext(events), 10)
        assert seen.type == "ADDED" and seen.object["metadata"]["name"] == "fast"
        assert await b.put_resource(obj) == "unchanged"
        (listed,) = await b.list_resources("PodtapProfile", namespace="default")
        assert listed["spec"] == obj["spec"]
        assert await b.delete_resource("PodtapProfile", namespace="default", name="fast")
        assert await b.list_resources("PodtapProfile") == []
        await events.aclose()

    asyncio.run(go())
