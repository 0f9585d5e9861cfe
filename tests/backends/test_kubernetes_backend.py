"""The Kubernetes backend against the API server in-process (no root, no node): objects are
written as a controller and a kubelet would (pod status through the status subresource),
and the backend reads them back as the operator sees targets, environments and resources."""

from __future__ import annotations

import asyncio
import copy
import logging
from collections.abc import AsyncGenerator, Awaitable, Callable, Iterator
from pathlib import Path
from typing import Any, cast

import pytest
import yaml

from podtap.backends.base import ResourceEvent, TargetNotFound, TargetNotReady, TargetRef
from podtap.backends.kubernetes import ConfigError, KubernetesBackend, UnknownKind
from podtap.backends.local.kubeapi.app import Running
from podtap.backends.local.kubeapi.context import ApiContext
from podtap.backends.local.kubeapi.status import ApiError as ServerError
from podtap.backends.local.kubeapi.store import Store
from tests.backends.kube_objects import (
    Gate,
    crd,
    deployment,
    job,
    pod,
    put_owned,
    replicaset,
    service,
    write_pod_status,
)
from tests.kubeapi.server import in_thread

Body = Callable[[KubernetesBackend], Awaitable[None]]


@pytest.fixture(scope="module")
def api() -> Iterator[Running]:
    with in_thread() as running:
        asyncio.run(_workloads(running.kubeconfig))
        yield running


def run(api: Running, body: Body, *, kubeconfig: Path | None = None) -> None:
    async def go() -> None:
        async with await KubernetesBackend.from_kubeconfig(
            path=kubeconfig or api.kubeconfig
        ) as backend:
            await body(backend)

    asyncio.run(go())


async def _workloads(kubeconfig: Path) -> None:
    """One of each kind; the first pod of each by name is not ready, the second is."""
    async with await KubernetesBackend.from_kubeconfig(path=kubeconfig) as b:
        web = {"app": "web"}
        await b.put_resource(deployment("web", web))
        await put_owned(b, replicaset("web-rs", web, owner=("Deployment", "web")))
        for name, ready in (("web-0", False), ("web-1", True)):
            await put_owned(b, pod(name, web, owner=("ReplicaSet", "web-rs")))
            await write_pod_status(b, name, ready=ready)
        await b.put_resource(service("web-svc", web, ip="10.96.0.50"))
        sts = deployment("db", {"app": "db"}) | {"kind": "StatefulSet"}
        await b.put_resource(sts)
        await put_owned(b, pod("db-0", {"app": "db"}, owner=("StatefulSet", "db")))
        await write_pod_status(b, "db-0", ready=True)
        await b.put_resource(job("batch"))
        await put_owned(b, pod("batch-x", {"job": "batch"}, owner=("Job", "batch")))
        await write_pod_status(b, "batch-x", ready=True)
        cron = {"apiVersion": "batch/v1", "kind": "CronJob", "metadata": {"name": "nightly"}}
        cron["spec"] = {"schedule": "0 3 * * *", "jobTemplate": {"spec": job("t")["spec"]}}
        await b.put_resource(cron)
        for name, done in (("nightly-1", True), ("nightly-2", False)):
            await put_owned(b, job(name, owner=("CronJob", "nightly"), done=done))
            await put_owned(b, pod(f"{name}-x", {"job": name}, owner=("Job", name)))
            await write_pod_status(b, f"{name}-x", ready=True)
        await b.put_resource(crd("Rollout", "argoproj.io", "v1alpha1", scope="Namespaced"))
        await b.put_resource(
            {
                "apiVersion": "argoproj.io/v1alpha1",
                "kind": "Rollout",
                "metadata": {"name": "canary", "namespace": "default"},
                "spec": {"selector": {"matchLabels": {"app": "canary"}}},
            }
        )
        await b.put_resource(
            {
                "apiVersion": "argoproj.io/v1alpha1",
                "kind": "Rollout",
                "metadata": {"name": "ref", "namespace": "default"},
                "spec": {
                    "workloadRef": {"apiVersion": "apps/v1", "kind": "Deployment", "name": "web"}
                },
            }
        )
        await b.put_resource(pod("canary-1", {"app": "canary"}))
        await write_pod_status(b, "canary-1", ready=True)


@pytest.mark.parametrize(
    ("target", "pod_name", "owner"),
    [
        ("pod/web-1", "web-1", "Deployment/default/web"),
        ("deployment/web", "web-1", "Deployment/default/web"),
        ("rs/web-rs", "web-1", "Deployment/default/web"),
        ("svc/web-svc", "web-1", "Deployment/default/web"),
        ("statefulset/db", "db-0", "StatefulSet/default/db"),
        ("label/app=db", "db-0", "StatefulSet/default/db"),
        ("job/batch", "batch-x", "Job/default/batch"),
        ("cronjob/nightly", "nightly-2-x", "CronJob/default/nightly"),
        ("rollout/canary", "canary-1", None),
        ("rollout/ref", "web-1", "Deployment/default/web"),
    ],
)
def test_every_target_kind_resolves_to_its_first_ready_pod(
    api: Running, target: str, pod_name: str, owner: str | None
) -> None:
    async def body(b: KubernetesBackend) -> None:
        found = await b.resolve(TargetRef.parse(target), namespace="default")
        assert (found.pod.name, found.pod.owner, found.pod.ready) == (pod_name, owner, True)
        assert found.pod.ip == "10.244.0.9" and found.pod.node == "node-a"
        assert found.container.name == "app" and found.container.ports == (8080,)
        assert found.container.container_id == f"containerd://{pod_name}-app"
        with pytest.raises(TargetNotReady, match="no process id known here"):
            _ = found.pid  # the API names no pid: a clear error, not an assert

    run(api, body)


def test_list_targets_shows_each_kind_and_whether_it_has_a_ready_pod(api: Running) -> None:
    async def body(b: KubernetesBackend) -> None:
        listed = {str(t.target): t.ready for t in await b.list_targets(namespace="default")}
        assert listed["pod/web-0"] is False and listed["pod/web-1"] is True
        for ready in ("deployment/web", "replicaset/web-rs", "service/web-svc", "cronjob/nightly"):
            assert listed[ready] is True, ready
        assert listed["statefulset/db"] and listed["job/batch"] and listed["rollout/ref"]
        assert await b.list_targets(namespace="nowhere") == []

    run(api, body)


def test_containers_by_name_annotation_and_past_sidecars(api: Running) -> None:
    async def body(b: KubernetesBackend) -> None:
        side = pod("side-1", {"app": "side"}, containers=("istio-proxy", "app", "worker"))
        note = pod("note-1", {"app": "note"}, containers=("app", "worker"))
        note["metadata"]["annotations"] = {"kubectl.kubernetes.io/default-container": "worker"}
        for made in (side, note):
            await b.put_resource(made)
            await write_pod_status(b, made["metadata"]["name"], ready=True)
        try:
            got = await b.resolve(TargetRef.parse("pod/side-1"), namespace="default")
            assert got.container.name == "app"
            got = await b.resolve(TargetRef.parse("pod/note-1"), namespace="default")
            assert got.container.name == "worker"
            got = await b.resolve(
                TargetRef.parse("pod/side-1/container/worker"), namespace="default"
            )
            assert got.container.name == "worker"
            with pytest.raises(TargetNotFound) as missing:
                await b.resolve(TargetRef.parse("pod/side-1/container/db"), namespace="default")
            assert str(missing.value) == (
                "pod side-1 has no container 'db' (it has istio-proxy, app, worker)"
            )
            with pytest.raises(TargetNotReady, match="container istio-proxy of pod side-1 is not"):
                await b.resolve(
                    TargetRef.parse("pod/side-1/container/istio-proxy"), namespace="default"
                )
        finally:
            for name in ("side-1", "note-1"):
                await b.delete_resource("Pod", namespace="default", name=name)

    run(api, body)


def test_missing_and_unready_targets_say_so(api: Running) -> None:
    async def body(b: KubernetesBackend) -> None:
        for target in ("deployment/nope", "cronjob/nope", "rollout/nope", "pod/nope"):
            with pytest.raises(TargetNotFound, match="'nope' not found in namespace 'default'"):
                await b.resolve(TargetRef.parse(target), namespace="default")
        with pytest.raises(TargetNotFound, match="no pod in namespace 'default' has the labels"):
            await b.resolve(TargetRef.parse("label/app=nobody"), namespace="default")
        with pytest.raises(TargetNotReady, match=r"has no ready pod.*kubectl get pods -n default"):
            await b.resolve(TargetRef.parse("pod/web-0"), namespace="default")
        with pytest.raises(TargetNotFound, match="targetless session has no pod"):
            await b.resolve(TargetRef.parse("targetless"), namespace="default")

    run(api, body)


def test_the_environment_is_built_from_the_pod_spec_and_the_objects_it_names(
    api: Running,
) -> None:
    async def body(b: KubernetesBackend) -> None:
        cm = {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "env-cm"}}
        cm["data"] = {"MODE": "fast", "LEVEL": "3"}
        secret = {"apiVersion": "v1", "kind": "Secret", "metadata": {"name": "env-secret"}}
        secret["stringData"] = {"TOKEN": "t0k"}
        made = pod("env-1", {"app": "env"})
        made["spec"]["containers"][0]["envFrom"] = [{"configMapRef": {"name": "env-cm"}}]
        made["spec"]["containers"][0]["env"] = [
            {
                "name": "TOKEN",
                "valueFrom": {"secretKeyRef": {"name": "env-secret", "key": "TOKEN"}},
            },
            {"name": "ME", "valueFrom": {"fieldRef": {"fieldPath": "metadata.name"}}},
            {"name": "URL", "value": "http://$(WEB_SVC_SERVICE_HOST):$(LEVEL)/$(NOPE)"},
        ]
        for obj in (cm, secret, made):
            await b.put_resource(obj)
        try:
            await write_pod_status(b, "env-1", ready=True)
            resolved = await b.resolve(TargetRef.parse("pod/env-1"), namespace="default")
            env = await b.container_env(resolved)
            assert env["MODE"] == "fast" and env["TOKEN"] == "t0k" and env["ME"] == "env-1"
            assert env["URL"] == "http://10.96.0.50:3/$(NOPE)"
            assert env["WEB_SVC_SERVICE_PORT"] == "80" and env["WEB_SVC_PORT_80_TCP_PORT"] == "80"
            assert env["HOSTNAME"] == "env-1" and env["HOME"] == "/root"
            await b.delete_resource("Pod", namespace="default", name="env-1")
            with pytest.raises(ProcessLookupError, match="container app of pod env-1 is gone"):
                await b.container_env(resolved)
        finally:
            for obj in (cm, secret, made):
                await b.delete_resource(
                    obj["kind"], namespace="default", name=obj["metadata"]["name"]
                )

    run(api, body)


def test_put_creates_replaces_and_refuses_what_is_invalid(api: Running) -> None:
    async def body(b: KubernetesBackend) -> None:
        cm = {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "put-1"}}
        given = copy.deepcopy(cm | {"data": {"a": "1"}})
        try:
            assert await b.put_resource(given) == "created"
            assert await b.put_resource(given) == "unchanged"
            assert given == cm | {"data": {"a": "1"}}  # the caller's object as given
            assert await b.put_resource(cm | {"data": {"a": "2"}}) == "configured"
            (stored,) = [
                o for o in await b.list_resources("ConfigMap") if o["metadata"]["name"] == "put-1"
            ]
            assert stored["kind"] == "ConfigMap" and stored["data"] == {"a": "2"}
            with pytest.raises(ValueError, match=r"field spec\.selector: Required value"):
                await b.put_resource(deployment("bad", {}) | {"spec": {}})
        finally:
            assert await b.delete_resource("ConfigMap", namespace="default", name="put-1")
        assert not await b.delete_resource("ConfigMap", namespace="default", name="put-1")

    run(api, body)


def test_an_unknown_kind_is_refused_in_one_line(api: Running) -> None:
    async def body(b: KubernetesBackend) -> None:
        with pytest.raises(UnknownKind, match="the cluster serves no kind 'Gizmo'; `kubectl api"):
            await b.list_resources("Gizmo")
        with pytest.raises(UnknownKind, match=r"serves no example\.com/v1 Gizmo"):
            await b.put_resource(
                {"apiVersion": "example.com/v1", "kind": "Gizmo", "metadata": {"name": "g"}}
            )

    run(api, body)


def test_a_missing_kubeconfig_or_context_is_a_clear_error(api: Running, tmp_path: Path) -> None:
    async def body() -> None:
        missing = tmp_path / "nope"
        with pytest.raises(ConfigError, match=f"kubeconfig {missing} does not exist"):
            await KubernetesBackend.from_kubeconfig(path=missing)
        with pytest.raises(ConfigError, match=r"context 'other' is not in kubeconfig .* \(it has "):
            await KubernetesBackend.from_kubeconfig(path=api.kubeconfig, context="other")
        with pytest.raises(ConfigError, match="not running in a cluster"):
            KubernetesBackend.in_cluster()

    asyncio.run(body())


# -- watch -----------------------------------------------------------------------------
def gadget(name: str, n: int) -> dict[str, Any]:
    return {
        "apiVersion": "example.com/v1",
        "kind": "Gadget",
        "metadata": {"name": name},
        "spec": {"n": n},
    }


async def next_event(events: AsyncGenerator[ResourceEvent, None]) -> tuple[str, str]:
    event = await asyncio.wait_for(anext(events), 10)
    return event.type, (event.object.get("metadata") or {}).get("name", "")


def watch_through(
    gate: Gate,
    body: Callable[[KubernetesBackend, KubernetesBackend], Awaitable[None]],
    *,
    history: int,
) -> None:
    """`body` with a backend that reaches a fresh API server through `gate` (the watcher)
    and one that reaches it directly (the writer)."""
    with in_thread(ApiContext(store=Store(history=history), bookmark_interval=0.2)) as server:

        async def go() -> None:
            async with (
                gate.serving(server) as kubeconfig,
                await KubernetesBackend.from_kubeconfig(path=kubeconfig) as watcher,
                await KubernetesBackend.from_kubeconfig(path=server.kubeconfig) as b,
            ):
                await b.put_resource(crd("Gadget", "example.com", "v1", scope="Cluster"))
                await body(watcher, b)

        asyncio.run(go())


def test_a_watch_lists_then_follows_and_resumes_after_a_dropped_connection() -> None:
    gate = Gate()

    async def body(watcher: KubernetesBackend, b: KubernetesBackend) -> None:
        await b.put_resource(gadget("g1", 1))
        events = cast(AsyncGenerator[ResourceEvent, None], watcher.watch_resources("Gadget"))
        try:
            assert await next_event(events) == ("ADDED", "g1")
            assert await next_event(events) == ("BOOKMARK", "")
            await b.put_resource(gadget("g2", 1))
            assert await next_event(events) == ("ADDED", "g2")
            dropped = gate.cut()
            assert dropped > 0
            await b.put_resource(gadget("g1", 2))
            assert await next_event(events) == ("MODIFIED", "g1")
            await b.delete_resource("Gadget", namespace="", name="g2")
            assert await next_event(events) == ("DELETED", "g2")
        finally:
            await events.aclose()

    watch_through(gate, body, history=1000)


def test_a_watch_lists_again_after_410_expired_and_reports_what_changed(
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.INFO, logger="podtap.backends.kubernetes.watch")

    gate = Gate()

    async def body(watcher: KubernetesBackend, b: KubernetesBackend) -> None:
        for name in ("keep", "change", "drop"):
            await b.put_resource(gadget(name, 1))
        events = cast(AsyncGenerator[ResourceEvent, None], watcher.watch_resources("Gadget"))
        try:
            seen = {await next_event(events) for _ in range(3)}
            assert seen == {("ADDED", "keep"), ("ADDED", "change"), ("ADDED", "drop")}
            assert await next_event(events) == ("BOOKMARK", "")
            async with gate.held():  # the watch cannot reconnect while the history moves on
                gate.cut()
                await b.put_resource(gadget("change", 2))
                await b.delete_resource("Gadget", namespace="", name="drop")
                for i in range(6):
                    await b.put_resource(gadget(f"new-{i}", 1))
                    await b.delete_resource("Gadget", namespace="", name=f"new-{i}")
                await b.put_resource(gadget("late", 1))
            got = {await next_event(events) for _ in range(3)}
            assert got == {("MODIFIED", "change"), ("DELETED", "drop"), ("ADDED", "late")}
            assert "expired, listing again" in caplog.text
        finally:
            await events.aclose()

    watch_through(gate, body, history=3)


def test_the_backend_closes_its_client(api: Running) -> None:
    async def body() -> None:
        backend = await KubernetesBackend.from_kubeconfig(path=api.kubeconfig)
        await backend.aclose()
        with pytest.raises(RuntimeError):
            await backend.list_targets(namespace="default")

    asyncio.run(body())


def test_kubeconfig_from_the_environment(
    api: Running, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    config = yaml.safe_load(api.kubeconfig.read_text())
    (tmp_path / "kc").write_text(yaml.safe_dump(config))
    monkeypatch.setenv("KUBECONFIG", f"{tmp_path / 'absent'}:{tmp_path / 'kc'}")

    async def body() -> None:
        async with await KubernetesBackend.from_kubeconfig() as b:
            assert any(t.target.name == "web-1" for t in await b.list_targets(namespace="default"))

    asyncio.run(body())


def test_a_replace_that_conflicts_reads_again_a_bounded_number_of_times() -> None:
    conflicts = {"left": 0}

    def another_writer(kind: str, obj: dict[str, Any]) -> None:
        """The server refuses an update with a 409, as when someone wrote in between."""
        if kind == "ConfigMap" and obj["metadata"].get("resourceVersion") and conflicts["left"]:
            conflicts["left"] -= 1
            raise ServerError(409, "Conflict", "the object has been modified")

    ctx = ApiContext(admission_checks=[another_writer])

    async def body(b: KubernetesBackend) -> None:
        cm = {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "race"}}
        assert await b.put_resource(cm | {"data": {"a": "1"}}) == "created"
        conflicts["left"] = 2
        assert await b.put_resource(cm | {"data": {"a": "2"}}) == "configured"
        assert conflicts["left"] == 0
        (stored,) = await b.list_resources("ConfigMap", namespace="default")
        assert stored["data"] == {"a": "2"}
        conflicts["left"] = 100
        with pytest.raises(RuntimeError, match="'race' kept changing while podtap wrote it"):
            await b.put_resource(cm | {"data": {"a": "3"}})

    with in_thread(ctx) as server:
        run(server, body)
