"""kubernetes_asyncio (the operator's client) against the API server in the same loop."""

from __future__ import annotations

import asyncio
import json
import ssl
from collections.abc import Awaitable, Callable
from typing import Any

import aiohttp
import pytest
from kubernetes_asyncio import client, config, watch
from kubernetes_asyncio.client.exceptions import ApiException

from podtap.backends.local.kubeapi.app import Running, serving
from podtap.backends.local.kubeapi.context import ApiContext
from podtap.backends.local.kubeapi.store import Store

Body = Callable[[Running, client.ApiClient], Awaitable[None]]


def with_client(body: Body, *, ctx: ApiContext | None = None) -> None:
    async def go() -> None:
        async with serving(ctx=ctx) as running:
            api = await config.new_client_from_config(config_file=str(running.kubeconfig))
            async with api:
                await body(running, api)

    asyncio.run(go())


def status_of(error: pytest.ExceptionInfo[ApiException]) -> tuple[int, str, str]:
    """(code, reason, message) of the Status the server answered with."""
    body = json.loads(error.value.body or b"{}")
    return int(body["code"]), str(body["reason"]), str(body["message"])


def cm(name: str, **data: str) -> client.V1ConfigMap:
    return client.V1ConfigMap(metadata=client.V1ObjectMeta(name=name), data=data)


def test_create_get_list_and_statuses() -> None:
    async def body(_r: Running, api: client.ApiClient) -> None:
        core = client.CoreV1Api(api)
        made = await core.create_namespaced_config_map("default", cm("a", k="v"))
        assert made.metadata.uid and made.metadata.resource_version
        got = await core.read_namespaced_config_map("a", "default")
        assert got.data == {"k": "v"}
        with pytest.raises(ApiException) as dup:
            await core.create_namespaced_config_map("default", cm("a"))
        assert status_of(dup) == (409, "AlreadyExists", 'configmaps "a" already exists')
        with pytest.raises(ApiException) as missing:
            await core.read_namespaced_config_map("zz", "default")
        assert status_of(missing) == (404, "NotFound", 'configmaps "zz" not found')
        with pytest.raises(ApiException) as invalid:
            await core.create_namespace(
                client.V1Namespace(metadata=client.V1ObjectMeta(name="Bad_Name"))
            )
        code, reason, message = status_of(invalid)
        assert (code, reason) == (422, "Invalid")
        assert message.startswith('Namespace "Bad_Name" is invalid: metadata.name: Invalid value: ')
        with pytest.raises(ApiException) as no_ns:
            await core.create_namespaced_config_map("nowhere", cm("a"))
        assert status_of(no_ns) == (404, "NotFound", 'namespaces "nowhere" not found')
        listed = await core.list_namespaced_config_map("default")
        assert [i.metadata.name for i in listed.items] == ["a"]
        assert int(listed.metadata.resource_version) >= int(made.metadata.resource_version)

    with_client(body)


def test_generate_name_generation_and_stale_update() -> None:
    async def body(_r: Running, api: client.ApiClient) -> None:
        apps = client.AppsV1Api(api)
        spec = client.V1DeploymentSpec(
            replicas=1,
            selector=client.V1LabelSelector(match_labels={"app": "x"}),
            template=client.V1PodTemplateSpec(
                metadata=client.V1ObjectMeta(labels={"app": "x"}),
                spec=client.V1PodSpec(containers=[client.V1Container(name="c", image="i")]),
            ),
        )
        made = await apps.create_namespaced_deployment(
            "default",
            client.V1Deployment(metadata=client.V1ObjectMeta(generate_name="web-"), spec=spec),
        )
        name = made.metadata.name
        assert name.startswith("web-") and len(name) == 9 and made.metadata.generation == 1
        made.metadata.labels = {"only": "metadata"}
        relabeled = await apps.replace_namespaced_deployment(name, "default", made)
        assert relabeled.metadata.generation == 1  # metadata is not the spec
        relabeled.spec.replicas = 3
        scaled = await apps.replace_namespaced_deployment(name, "default", relabeled)
        assert scaled.metadata.generation == 2
        with pytest.raises(ApiException) as stale:
            await apps.replace_namespaced_deployment(name, "default", relabeled)
        assert status_of(stale) == (
            409,
            "Conflict",
            f'Operation cannot be fulfilled on deployments.apps "{name}": the object has been '
            "modified; please apply your changes to the latest version and try again",
        )

    with_client(body)


def test_watch_from_a_version_and_bookmarks() -> None:
    ctx = ApiContext(bookmark_interval=0.2)

    async def body(_r: Running, api: client.ApiClient) -> None:
        core = client.CoreV1Api(api)
        start = (await core.list_namespaced_config_map("default")).metadata.resource_version
        await core.create_namespaced_config_map("default", cm("w1"))
        await core.delete_namespaced_config_map("w1", "default")
        seen: list[tuple[str, str]] = []
        stream = watch.Watch()
        async for event in stream.stream(
            core.list_namespaced_config_map,
            "default",
            resource_version=start,
            allow_watch_bookmarks=True,
            timeout_seconds=1,
        ):
            name = event["raw_object"]["metadata"].get("name", "")
            seen.append((event["type"], name))
        assert seen[:2] == [("ADDED", "w1"), ("DELETED", "w1")]
        assert ("BOOKMARK", "") in seen[2:]

    with_client(body, ctx=ctx)


def test_watch_too_old_is_expired() -> None:
    ctx = ApiContext(store=Store(history=3))

    async def body(_r: Running, api: client.ApiClient) -> None:
        core = client.CoreV1Api(api)
        for i in range(6):
            await core.create_namespaced_config_map("default", cm(f"c{i}"))
        stream = watch.Watch()
        with pytest.raises(ApiException) as gone:
            async for _event in stream.stream(
                core.list_namespaced_config_map, "default", resource_version="1", timeout_seconds=1
            ):
                pass
        assert gone.value.status == 410
        assert "Expired: too old resource version: 1" in str(gone.value.reason)

    with_client(body, ctx=ctx)


# A v1 CRD needs a schema; this one keeps whatever it is given (nothing is pruned).
ANY_OBJECT = {"type": "object", "x-kubernetes-preserve-unknown-fields": True}


def test_custom_objects_crud_and_watch() -> None:
    crd: dict[str, Any] = {
        "apiVersion": "apiextensions.k8s.io/v1",
        "kind": "CustomResourceDefinition",
        "metadata": {"name": "gadgets.example.com"},
        "spec": {
            "group": "example.com",
            "scope": "Cluster",
            "names": {"plural": "gadgets", "singular": "gadget", "kind": "Gadget"},
            "versions": [
                {
                    "name": "v1",
                    "served": True,
                    "storage": True,
                    "subresources": {"status": {}},
                    "schema": {"openAPIV3Schema": ANY_OBJECT},
                }
            ],
        },
    }

    async def body(_r: Running, api: client.ApiClient) -> None:
        ext = client.ApiextensionsV1Api(api)
        made = await ext.create_custom_resource_definition(crd)  # type: ignore[arg-type]
        assert {c.type for c in made.status.conditions} == {"Established", "NamesAccepted"}
        custom = client.CustomObjectsApi(api)
        args = ("example.com", "v1", "gadgets")
        obj = {
            "apiVersion": "example.com/v1",
            "kind": "Gadget",
            "metadata": {"name": "g"},
            "spec": {"a": 1},
            "status": {"s": 1},
        }
        created = await custom.create_cluster_custom_object(*args, obj)
        assert "status" not in created  # written only through /status
        created["spec"]["a"] = 2
        updated = await custom.replace_cluster_custom_object(*args, "g", created)
        assert updated["spec"] == {"a": 2} and updated["metadata"]["generation"] == 2
        updated["status"] = {"s": 2}
        with_status = await custom.replace_cluster_custom_object_status(*args, "g", updated)
        assert with_status["status"] == {"s": 2} and with_status["metadata"]["generation"] == 2
        listed = await custom.list_cluster_custom_object(*args)
        assert [i["metadata"]["name"] for i in listed["items"]] == ["g"]
        events = []
        async for event in watch.Watch().stream(
            custom.list_cluster_custom_object, *args, timeout_seconds=1
        ):
            events.append((event["type"], event["object"]["metadata"]["name"]))
        assert events == [("ADDED", "g")]
        await custom.delete_cluster_custom_object(*args, "g")
        assert (await custom.list_cluster_custom_object(*args))["items"] == []
        await ext.delete_custom_resource_definition("gadgets.example.com")
        with pytest.raises(ApiException) as gone:
            await custom.list_cluster_custom_object(*args)
        assert gone.value.status == 404

    with_client(body)


def test_anonymous_gets_401_status() -> None:
    async def body(running: Running, _api: client.ApiClient) -> None:
        tls = ssl.create_default_context(cadata=running.ca.cert_pem.decode())
        async with aiohttp.ClientSession() as http:
            async with http.get(f"{running.url}/api/v1/pods", ssl=tls) as response:
                assert response.status == 401
                assert await response.json() == {
                    "kind": "Status",
                    "apiVersion": "v1",
                    "metadata": {},
                    "status": "Failure",
                    "message": "Unauthorized",
                    "reason": "Unauthorized",
                    "code": 401,
                }
            async with http.get(f"{running.url}/healthz", ssl=tls) as response:
                assert response.status == 200

    with_client(body)


def test_snapshot_restores_objects_and_versions() -> None:
    first = ApiContext()

    async def fill(_r: Running, api: client.ApiClient) -> None:
        await client.CoreV1Api(api).create_namespaced_config_map("default", cm("kept", k="v"))

    with_client(fill, ctx=first)
    again = Store()
    again.restore(first.store.snapshot())
    second = ApiContext(store=again)

    async def check(_r: Running, api: client.ApiClient) -> None:
        core = client.CoreV1Api(api)
        assert (await core.read_namespaced_config_map("kept", "default")).data == {"k": "v"}
        made = await core.create_namespaced_config_map("default", cm("new"))
        assert int(made.metadata.resource_version) > first.store.revision

    with_client(check, ctx=second)
