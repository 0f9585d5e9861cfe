"""A pod's graceful deletion at the API (kubernetes_asyncio and kubectl, no kubelet here):
the DELETE marks a pod that a node runs, the kubelet's DELETE with grace 0 lets it go."""

from __future__ import annotations

import asyncio
import calendar
import json
import time
from collections.abc import Awaitable, Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from kubernetes_asyncio import client, config, watch

from podtap.backends.local.kubeapi.app import Running, serving
from tests.kubeapi.cli import run

Body = Callable[[Running, client.CoreV1Api], Awaitable[None]]


NODE = "podtap-local"


def with_core(body: Body) -> None:
    """`body` against a server of its own, with a Node (no kubelet: the test acts as one)."""

    async def go() -> None:
        async with serving() as running:
            api = await config.new_client_from_config(config_file=str(running.kubeconfig))
            async with api:
                core = client.CoreV1Api(api)
                await core.create_node({"metadata": {"name": NODE}})
                await body(running, core)

    asyncio.run(go())


def pod(name: str, *, node: str | None = NODE, grace: int | None = None) -> Any:
    spec: dict[str, Any] = {"containers": [{"name": "c", "image": "busybox"}]}
    if node:
        spec["nodeName"] = node
    if grace is not None:
        spec["terminationGracePeriodSeconds"] = grace
    return {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": name}, "spec": spec}


def seconds_from_now(stamp: Any) -> float:
    return stamp.timestamp() - time.time()


async def exists(core: client.CoreV1Api, name: str) -> bool:
    found = await core.list_namespaced_pod("default", field_selector=f"metadata.name={name}")
    return bool(found.items)


def test_delete_marks_a_scheduled_pod_with_its_grace_until_the_kubelet_deletes_it() -> None:
    async def body(_r: Running, core: client.CoreV1Api) -> None:
        await core.create_namespaced_pod("default", pod("web"))
        kept = await core.delete_namespaced_pod("web", "default")
        assert kept.kind == "Pod"
        assert kept.metadata.deletion_grace_period_seconds == 30
        assert 28 < seconds_from_now(kept.metadata.deletion_timestamp) <= 31
        again = await core.read_namespaced_pod("web", "default")
        assert again.metadata.deletion_timestamp == kept.metadata.deletion_timestamp
        await core.delete_namespaced_pod("web", "default", grace_period_seconds=0)
        assert not await exists(core, "web")

    with_core(body)


def test_the_grace_is_the_pods_or_the_requests_and_a_later_delete_only_shortens_it() -> None:
    async def body(_r: Running, core: client.CoreV1Api) -> None:
        await core.create_namespaced_pod("default", pod("own", grace=5))
        kept = await core.delete_namespaced_pod("own", "default")
        assert kept.metadata.deletion_grace_period_seconds == 5
        await core.create_namespaced_pod("default", pod("asked", grace=5))
        first = await core.delete_namespaced_pod("asked", "default", grace_period_seconds=40)
        assert first.metadata.deletion_grace_period_seconds == 40
        longer = await core.delete_namespaced_pod("asked", "default", grace_period_seconds=90)
        assert longer.metadata.deletion_grace_period_seconds == 40
        shorter = await core.delete_namespaced_pod("asked", "default", grace_period_seconds=10)
        assert shorter.metadata.deletion_grace_period_seconds == 10
        moved = first.metadata.deletion_timestamp - shorter.metadata.deletion_timestamp
        assert moved.total_seconds() == 30

    with_core(body)


def test_an_unscheduled_finished_or_orphaned_pod_goes_at_once() -> None:
    async def body(_r: Running, core: client.CoreV1Api) -> None:
        await core.create_namespaced_pod("default", pod("nowhere", node=None))
        await core.delete_namespaced_pod("nowhere", "default")
        assert not await exists(core, "nowhere")
        await core.create_namespaced_pod("default", pod("orphan", node="no-such-node"))
        await core.delete_namespaced_pod("orphan", "default")
        assert not await exists(core, "orphan")
        await core.create_namespaced_pod("default", pod("done"))
        status = {"status": {"phase": "Succeeded"}}
        await core.patch_namespaced_pod_status("done", "default", status)
        await core.delete_namespaced_pod("done", "default")
        assert not await exists(core, "done")

    with_core(body)


def test_a_watch_sees_modified_with_deletion_timestamp_then_deleted() -> None:
    async def body(_r: Running, core: client.CoreV1Api) -> None:
        made = await core.create_namespaced_pod("default", pod("seen"))
        events: list[tuple[str, bool]] = []

        async def follow() -> None:
            async with watch.Watch() as w:
                stream = w.stream(
                    core.list_namespaced_pod,
                    "default",
                    resource_version=made.metadata.resource_version,
                    timeout_seconds=10,
                )
                async for event in stream:
                    deleting = event["object"].metadata.deletion_timestamp is not None
                    events.append((event["type"], deleting))
                    if event["type"] == "DELETED":
                        return

        watching = asyncio.ensure_future(follow())
        try:
            await core.delete_namespaced_pod("seen", "default")
            await core.delete_namespaced_pod("seen", "default", grace_period_seconds=0)
            await asyncio.wait_for(watching, 10)
        finally:
            watching.cancel()
        # As kube-apiserver: the mark, the kubelet's cut of the grace to 0, then the delete.
        assert events == [("MODIFIED", True), ("MODIFIED", True), ("DELETED", True)]

    with_core(body)


def test_finalizers_keep_a_pod_after_the_kubelets_delete_until_removed() -> None:
    async def body(_r: Running, core: client.CoreV1Api) -> None:
        held = pod("held")
        held["metadata"]["finalizers"] = ["example.com/hold"]
        await core.create_namespaced_pod("default", held)
        await core.delete_namespaced_pod("held", "default", grace_period_seconds=0)
        kept = await core.read_namespaced_pod("held", "default")
        assert kept.metadata.deletion_grace_period_seconds == 0
        await core.patch_namespaced_pod("held", "default", {"metadata": {"finalizers": None}})
        assert not await exists(core, "held")

    with_core(body)


@pytest.fixture(scope="module")
def node(api: Running, kubectl_bin: Path) -> Iterator[None]:
    """The module's server has the Node its pods are on (so their deletion is graceful)."""
    made = {"apiVersion": "v1", "kind": "Node", "metadata": {"name": NODE}}
    run(kubectl_bin, api, "apply", "-f", "-", stdin=json.dumps(made))
    yield
    run(kubectl_bin, api, "delete", "node", NODE, ok=False)


@pytest.mark.usefixtures("node")
def test_kubectl_force_delete_with_grace_0_is_immediate(api: Running, kubectl_bin: Path) -> None:
    manifest = pod("forced")
    run(kubectl_bin, api, "apply", "-f", "-", stdin=json.dumps(manifest))
    try:
        started = time.monotonic()
        done = run(kubectl_bin, api, "delete", "pod", "forced", "--grace-period=0", "--force")
        assert time.monotonic() - started < 10
        assert 'pod "forced" force deleted' in done.stdout
        gone = run(kubectl_bin, api, "get", "pod", "forced", ok=False)
        assert 'pods "forced" not found' in gone.stderr
    finally:
        run(kubectl_bin, api, "delete", "pod", "forced", "--grace-period=0", "--force", ok=False)


@pytest.mark.usefixtures("node")
def test_kubectl_delete_without_wait_shows_the_pod_terminating(
    api: Running, kubectl_bin: Path
) -> None:
    run(kubectl_bin, api, "apply", "-f", "-", stdin=json.dumps(pod("slow")))
    try:
        run(kubectl_bin, api, "delete", "pod", "slow", "--wait=false")
        out = run(kubectl_bin, api, "get", "pod", "slow", "-o", "jsonpath={.metadata}").stdout
        assert '"deletionGracePeriodSeconds":30' in out
        stamp = out.split('"deletionTimestamp":"')[1][:20]
        left = calendar.timegm(time.strptime(stamp, "%Y-%m-%dT%H:%M:%SZ")) - time.time()
        assert 25 < left <= 31
    finally:
        run(kubectl_bin, api, "delete", "pod", "slow", "--grace-period=0", "--force", ok=False)
