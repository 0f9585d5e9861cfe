"""What every ClusterBackend does, run against the Kubernetes backend on the embedded
cluster's API (root, the shared shop cluster: marked `cluster`) and the in-memory one
(anyone, in milliseconds), so that the fake the operator's tests run on stays what the real
one is. All hold the example shop (examples/shop); a test that adds objects
removes them."""

from __future__ import annotations

import asyncio
import ipaddress
import secrets
from collections.abc import AsyncGenerator, AsyncIterator, Callable, Coroutine, Iterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any, cast

import aiohttp
import pytest

from podtap.backends.base import (
    ClusterBackend,
    ResolvedTarget,
    ResourceEvent,
    TargetError,
    TargetNotFound,
    TargetNotReady,
    TargetRef,
)
from podtap.core.ids import RequestId, SessionId
from podtap.core.protocol import Envelope, EnvRequest, EnvResponse, InitiatorHandshake, Ping, Pong
from podtap.net.wire import WireConnection
from podtap.testing.fakebackend import RESOLVABLE_KINDS, FakeCluster
from tests.backends.kube_objects import EachCall, crd, with_crd

EXAMPLES = Path(__file__).resolve().parents[2] / "examples"
KIND = "PodtapContract"  # a custom resource kind no other test uses
ORDER = ["pod", "deployment", "statefulset", "service", "rollout", "replicaset", "job", "cronjob"]
#: What the Kubernetes backend cannot do yet, or does not need to refuse.
KUBERNETES_SKIPS = {
    "test_an_agent_serves_the_operator_on_its_socket_until_stopped": (
        "its agents are pods reached over TCP (tests/cluster/test_agent_pods.py)"
    ),
    "test_a_kind_it_cannot_resolve_is_refused_saying_what_it_can": "it resolves every kind",
}


@pytest.fixture(
    params=[
        "fake",
        pytest.param("kubernetes", marks=pytest.mark.cluster),
    ]
)
def backend(request: pytest.FixtureRequest) -> Iterator[ClusterBackend]:
    if request.param == "fake":
        yield FakeCluster.from_files(EXAMPLES / "shop")
        return
    shop = request.getfixturevalue("shop")
    if (reason := KUBERNETES_SKIPS.get(request.node.originalname)) is not None:
        pytest.skip(f"the Kubernetes backend: {reason}")
    kubeconfig = Path(shop.podtap("local", "kubeconfig").stdout.strip())
    with with_crd(kubeconfig, crd(KIND, "podtap.dev", "v1", scope="Namespaced")):
        yield EachCall(kubeconfig)


def run(test: Callable[[], Coroutine[Any, Any, None]]) -> None:
    asyncio.run(test())


async def resolve(backend: ClusterBackend, target: str) -> ResolvedTarget:
    return await backend.resolve(TargetRef.parse(target), namespace="default")


async def pod_names(backend: ClusterBackend, prefix: str) -> list[str]:
    return sorted(
        t.target.name
        for t in await backend.list_targets(namespace="default")
        if t.target.kind == "pod" and t.target.name.startswith(prefix)
    )


# -- targets -----------------------------------------------------------------------------
def test_targets_are_pods_then_deployments_statefulsets_and_services(
    backend: ClusterBackend,
) -> None:
    async def test() -> None:
        found = await backend.list_targets(namespace="default")
        names = {str(t.target): t.ready for t in found}
        for workload in (
            "deployment/shop",
            "deployment/catalog",
            "service/shop",
            "service/catalog",
        ):
            assert names[workload] is True
        assert len(await pod_names(backend, "catalog-")) == 2
        kinds = [ORDER.index(t.target.kind) for t in found]
        assert kinds == sorted(kinds) and {t.namespace for t in found} == {"default"}
        assert await backend.list_targets(namespace="contract-nowhere") == []

    run(test)


def test_a_workload_resolves_to_its_first_ready_pod_and_its_first_container(
    backend: ClusterBackend,
) -> None:
    async def test() -> None:
        shop = await resolve(backend, "deployment/shop")
        assert shop.target == TargetRef("deployment", "shop") and shop.namespace == "default"
        assert shop.pod.owner == "Deployment/default/shop" and shop.pod.labels["app"] == "shop"
        assert shop.pod.ready and shop.pod.phase == "Running"
        assert ipaddress.IPv4Address(shop.pod.ip) in ipaddress.IPv4Network("10.244.0.0/16")
        assert shop.container.name == "frontend" and shop.container.ports == (8080,)
        assert shop.container.running
        if shop.container.pid is None:  # known only by its id through the Kubernetes API
            assert shop.container.container_id
        else:
            assert shop.netns_path == f"/proc/{shop.pid}/ns/net"
        catalog = await resolve(backend, "deploy/catalog")
        assert catalog.pod.name == (await pod_names(backend, "catalog-"))[0]
        assert (await resolve(backend, "svc/catalog")).pod.name.startswith("catalog-")
        by_pod = await resolve(backend, f"pod/{shop.pod.name}/container/frontend")
        assert by_pod.pod == shop.pod and by_pod.container == shop.container

    run(test)


def test_a_containers_environment_is_what_the_cluster_gave_it(backend: ClusterBackend) -> None:
    async def test() -> None:
        shop = await resolve(backend, "deployment/shop")
        env = await backend.container_env(shop)
        assert env["SHOP_API_KEY"] == "s3cr3t-key-42"  # from the Secret
        assert env["HOSTNAME"] == shop.pod.name and env["HOME"] == "/root" and env["PATH"]
        assert env["CATALOG_SERVICE_PORT"] == "80"
        assert ipaddress.IPv4Address(env["SHOP_SERVICE_HOST"]) in ipaddress.IPv4Network(
            "10.96.0.0/16"
        )

    run(test)


@pytest.mark.parametrize(
    ("target", "message"),
    [
        ("deployment/nope", "deployment 'nope' not found in namespace 'default'"),
        ("statefulset/nope", "statefulset 'nope' not found in namespace 'default'"),
        ("service/nope", "service 'nope' not found in namespace 'default'"),
        ("pod/nope", "pod 'nope' not found in namespace 'default'"),
        ("deployment/shop/container/x", "has no container 'x' (it has frontend)"),
        ("targetless", "targetless session has no pod"),
    ],
)
def test_a_missing_target_is_not_found(backend: ClusterBackend, target: str, message: str) -> None:
    async def test() -> None:
        with pytest.raises(TargetNotFound, match=message.replace("(", r"\(").replace(")", r"\)")):
            await resolve(backend, target)
        with pytest.raises(TargetNotFound):  # names are looked up in the namespace given
            await backend.resolve(TargetRef.parse("deployment/shop"), namespace="contract")

    run(test)


@pytest.mark.parametrize("target", ["rollout/x", "job/x", "cronjob/x", "rs/x", "label/app=shop"])
def test_a_kind_it_cannot_resolve_is_refused_saying_what_it_can(
    backend: ClusterBackend, target: str
) -> None:
    async def test() -> None:
        ref = TargetRef.parse(target)
        with pytest.raises(TargetError) as refused:
            await resolve(backend, target)
        assert not isinstance(refused.value, TargetNotFound | TargetNotReady)
        assert f"cannot resolve {ref.kind} targets yet" in str(refused.value)
        assert "(it resolves deployment, pod, statefulset, service)" in str(refused.value)

    assert getattr(backend, "resolvable_kinds", None) == RESOLVABLE_KINDS
    run(test)


def deployment(name: str, *, replicas: int) -> dict[str, Any]:
    template = {
        "metadata": {"labels": {"app": name}},
        "spec": {"containers": [{"name": "main", "image": "x", "command": ["sleep", "infinity"]}]},
    }
    return {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {"name": name, "namespace": "default"},
        "spec": {
            "replicas": replicas,
            "selector": {"matchLabels": {"app": name}},
            "template": template,
        },
    }


def service(name: str, selector: dict[str, str]) -> dict[str, Any]:
    return {
        "apiVersion": "v1",
        "kind": "Service",
        "metadata": {"name": name, "namespace": "default"},
        "spec": {"selector": selector, "ports": [{"port": 80}]},
    }


@asynccontextmanager
async def applied(backend: ClusterBackend, *objects: dict[str, Any]) -> AsyncIterator[None]:
    for obj in objects:
        await backend.put_resource(obj)
    try:
        yield
    finally:
        for obj in objects:
            meta = obj["metadata"]
            await backend.delete_resource(
                obj["kind"], namespace=meta["namespace"], name=meta["name"]
            )


def test_a_target_without_a_ready_pod_is_not_ready(backend: ClusterBackend) -> None:
    async def test() -> None:
        idle, orphan = (
            deployment("contract-idle", replicas=0),
            service("contract-orphan", {"app": "x"}),
        )
        async with applied(backend, idle, orphan):
            listed = {
                str(t.target): t.ready for t in await backend.list_targets(namespace="default")
            }
            assert listed["deployment/contract-idle"] is False
            assert listed["service/contract-orphan"] is False
            for target in ("deployment/contract-idle", "service/contract-orphan"):
                with pytest.raises(TargetNotReady, match="has no ready pod in namespace 'default'"):
                    await resolve(backend, target)

    run(test)


# -- custom resources --------------------------------------------------------------------
def resource(name: str, spec: dict[str, Any], namespace: str = "default") -> dict[str, Any]:
    return {
        "apiVersion": "podtap.dev/v1",
        "kind": KIND,
        "metadata": {"name": name, "namespace": namespace},
        "spec": spec,
    }


def watch(backend: ClusterBackend) -> AsyncGenerator[ResourceEvent, None]:
    """The protocol says AsyncIterator, which cannot be closed; both backends give an async
    generator (the local one holds a WebSocket to the node until it is closed)."""
    return cast(AsyncGenerator[ResourceEvent, None], backend.watch_resources(KIND))


def test_resources_are_stored_listed_and_watched(backend: ClusterBackend) -> None:
    async def test() -> None:
        events = watch(backend)
        assert (await asyncio.wait_for(anext(events), 10)).type == "BOOKMARK"
        obj = resource("fast", {"mode": "steal"})
        assert await backend.put_resource(obj) == "created"
        try:
            added = await asyncio.wait_for(anext(events), 10)
            assert added.type == "ADDED" and added.object["spec"] == {"mode": "steal"}
            assert await backend.put_resource(obj) == "unchanged"
            assert obj == resource("fast", {"mode": "steal"})  # the caller's object as given
            assert await backend.put_resource(resource("fast", {"mode": "mirror"})) == "configured"
            modified = await asyncio.wait_for(anext(events), 10)
            assert modified.type == "MODIFIED" and modified.object["spec"] == {"mode": "mirror"}
            (listed,) = await backend.list_resources(KIND, namespace="default")
            meta = listed["metadata"]
            assert meta["name"] == "fast" and meta["namespace"] == "default"
            assert {"uid", "resourceVersion", "creationTimestamp"} <= meta.keys()
            assert (
                meta["uid"] == modified.object["metadata"]["uid"] == added.object["metadata"]["uid"]
            )
            assert await backend.list_resources(KIND, namespace="contract-nowhere") == []
            again = watch(backend)  # a new watch lists what exists first
            first = await asyncio.wait_for(anext(again), 10)
            assert first.type == "ADDED" and first.object["metadata"]["name"] == "fast"
            assert (await asyncio.wait_for(anext(again), 10)).type == "BOOKMARK"
            await again.aclose()
        finally:
            assert await backend.delete_resource(KIND, namespace="default", name="fast")
        deleted = await asyncio.wait_for(anext(events), 10)
        assert deleted.type == "DELETED" and deleted.object["metadata"]["name"] == "fast"
        assert await backend.list_resources(KIND) == []
        await events.aclose()

    run(test)


def test_deleting_what_is_not_stored_says_so(backend: ClusterBackend) -> None:
    async def test() -> None:
        assert await backend.delete_resource(KIND, namespace="default", name="never") is False

    run(test)


def test_deleting_a_missing_built_in_object_says_so(backend: ClusterBackend) -> None:
    async def test() -> None:
        assert (
            await backend.delete_resource("Deployment", namespace="default", name="never") is False
        )

    run(test)


@pytest.mark.parametrize(
    ("obj", "message"),
    [
        ({"apiVersion": "v1", "metadata": {"name": "x"}}, "field kind: required"),
        ({"apiVersion": "v1", "kind": KIND, "metadata": {}}, "field metadata.name"),
        ({**deployment("contract-bad", replicas=1), "spec": {}}, "field spec.template"),
    ],
)
def test_an_invalid_object_is_refused_naming_its_field(
    backend: ClusterBackend, obj: dict[str, Any], message: str
) -> None:
    async def test() -> None:
        with pytest.raises(ValueError, match=message):
            await backend.put_resource(obj)

    run(test)


# -- agents ------------------------------------------------------------------------------
async def agent_wire(path: str, token: str) -> tuple[aiohttp.ClientSession, WireConnection]:
    http = aiohttp.ClientSession(connector=aiohttp.UnixConnector(path=path))
    try:
        ws = await http.ws_connect(
            "http://agent/agent/v1/connect", headers={"Authorization": f"Bearer {token}"}
        )
        wire = WireConnection(ws, label="agent")
        await wire.initiate(InitiatorHandshake(name="contract-test", version="0"))
    except BaseException:
        await http.close()
        raise
    return http, wire


def test_an_agent_serves_the_operator_on_its_socket_until_stopped(
    backend: ClusterBackend, tmp_path: Path
) -> None:
    async def test() -> None:
        shop = await resolve(backend, "deployment/shop")
        sock, token = str(tmp_path / "agent.sock"), secrets.token_hex(16)
        endpoint = await backend.start_agent(shop, token=token, socket_path=sock)
        assert endpoint.url == f"unix:{sock}" and endpoint.token == token
        try:
            with pytest.raises(aiohttp.WSServerHandshakeError) as refused:
                await agent_wire(sock, "not-the-token")
            assert refused.value.status == 401
            http, wire = await agent_wire(sock, token)
            await wire.send(Ping(nonce=1))
            assert isinstance(await asyncio.wait_for(wire.receive(), 10), Pong)
            await wire.send(
                Envelope(session=SessionId(5), message=EnvRequest(request=RequestId(1)))
            )
            reply = await asyncio.wait_for(wire.receive(), 10)
            assert isinstance(reply, Envelope) and isinstance(reply.message, EnvResponse)
            assert reply.message.env == await backend.container_env(shop)
        finally:
            await backend.stop_agent(endpoint)
        with pytest.raises(ConnectionError):
            await asyncio.wait_for(wire.receive(), 10)
        await http.close()
        await backend.stop_agent(endpoint)  # stopping twice is harmless

    run(test)
