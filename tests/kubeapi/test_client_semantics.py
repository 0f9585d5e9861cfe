"""kubernetes_asyncio against the server: filtered watches, patch types, apply, access reviews."""

from __future__ import annotations

import asyncio
import json
from typing import Any

import pytest
from kubernetes_asyncio import client, watch
from kubernetes_asyncio.client.exceptions import ApiException

from podtap.backends.local.kubeapi.app import Running
from tests.kubeapi.test_client_library import ANY_OBJECT, status_of, with_client

STRATEGIC = "application/strategic-merge-patch+json"
APPLY = "application/apply-patch+yaml"
MERGE = "application/merge-patch+json"


async def patch(
    custom: client.CustomObjectsApi,
    name: str,
    body: object,
    *,
    content_type: str,
    field_manager: str = "tests",
) -> Any:
    """A custom object's PATCH with the given media type (the stubs do not list the option)."""
    args = ("example.com", "v1", "default", "things", name, body)
    return await custom.patch_namespaced_custom_object(
        *args, field_manager=field_manager, _content_type=content_type
    )  # type: ignore[call-arg]


def labelled(name: str, app: str) -> client.V1ConfigMap:
    return client.V1ConfigMap(metadata=client.V1ObjectMeta(name=name, labels={"app": app}))


def test_watch_with_a_selector_sees_objects_enter_and_leave() -> None:
    async def body(_r: Running, api: client.ApiClient) -> None:
        core = client.CoreV1Api(api)
        seen: list[tuple[str, str]] = []

        async def follow() -> None:
            w = watch.Watch()
            stream = w.stream(
                core.list_namespaced_config_map, "default", label_selector="app=x",
                timeout_seconds=5,
            )  # fmt: skip
            async for event in stream:
                seen.append((event["type"], event["object"].metadata.labels["app"]))
                if len(seen) == 3:
                    w.stop()

        task = asyncio.create_task(follow(), name="watch")
        await asyncio.sleep(0.3)
        await core.create_namespaced_config_map("default", labelled("a", "x"))
        await core.create_namespaced_config_map("default", labelled("b", "y"))
        relabel = {"metadata": {"labels": {"app": "y"}}}
        await core.patch_namespaced_config_map("a", "default", relabel)
        await core.patch_namespaced_config_map(
            "a", "default", {"metadata": {"labels": {"app": "x"}}}
        )
        await asyncio.wait_for(task, 5)
        assert seen == [("ADDED", "x"), ("DELETED", "y"), ("ADDED", "x")]
        with pytest.raises(ApiException) as bad:
            await core.list_namespaced_config_map("default", label_selector="app in")
        assert status_of(bad) == (
            400, "BadRequest", "unable to parse requirement: found '' expected: '('"
        )  # fmt: skip

    with_client(body)


def test_patch_types_apply_and_custom_resources() -> None:
    crd: dict[str, Any] = {
        "apiVersion": "apiextensions.k8s.io/v1",
        "kind": "CustomResourceDefinition",
        "metadata": {"name": "things.example.com"},
        "spec": {
            "group": "example.com",
            "scope": "Namespaced",
            "names": {"plural": "things", "singular": "thing", "kind": "Thing"},
            "versions": [{"name": "v1", "served": True, "storage": True,
                          "schema": {"openAPIV3Schema": ANY_OBJECT}}],
        },
    }  # fmt: skip

    async def body(_r: Running, api: client.ApiClient) -> None:
        await client.ApiextensionsV1Api(api).create_custom_resource_definition(crd)  # type: ignore[arg-type]
        custom = client.CustomObjectsApi(api)
        args = ("example.com", "v1", "default", "things")
        thing = {"apiVersion": "example.com/v1", "kind": "Thing", "metadata": {"name": "t"},
                 "spec": {"n": 1}}  # fmt: skip
        # Server-side apply creates it; the same apply again changes nothing.
        # (201 Created: kubernetes_asyncio returns None for that status of a PATCH.)
        await patch(custom, "t", thing, content_type=APPLY, field_manager="tests")
        applied = await custom.get_namespaced_custom_object(*args, "t")
        again = await patch(custom, "t", thing, content_type=APPLY, field_manager="tests")
        assert applied["metadata"]["resourceVersion"] == again["metadata"]["resourceVersion"]
        assert [m["manager"] for m in again["metadata"]["managedFields"]] == ["tests"]
        with pytest.raises(ApiException) as strategic:
            await patch(custom, "t", {"spec": {"n": 2}}, content_type=STRATEGIC)
        code, reason, message = status_of(strategic)
        assert (code, reason) == (415, "UnsupportedMediaType")
        assert message.startswith("the body of the request was in an unknown format")
        merged = await patch(custom, "t", {"spec": {"n": 2}}, content_type=MERGE)
        assert merged["spec"] == {"n": 2}
        with pytest.raises(ApiException) as conflict:
            changed = {**thing, "spec": {"n": 3}}
            await patch(custom, "t", changed, content_type=APPLY, field_manager="other")
        code, reason, message = status_of(conflict)
        assert (code, reason) == (409, "Conflict")
        assert message.startswith("Apply failed with 1 conflict: conflict with ")
        assert (
            json.loads(conflict.value.body or b"{}")["details"]["causes"][0]["field"] == ".spec.n"
        )

    with_client(body)


def test_access_reviews_for_others() -> None:
    async def body(_r: Running, api: client.ApiClient) -> None:
        authz = client.AuthorizationV1Api(api)
        spec = client.V1SubjectAccessReviewSpec(
            user="eve",
            groups=["system:authenticated"],
            resource_attributes=client.V1ResourceAttributes(verb="get", resource="pods"),
        )
        review = await authz.create_subject_access_review(client.V1SubjectAccessReview(spec=spec))
        assert review.status.allowed is False
        spec = client.V1SubjectAccessReviewSpec(
            user="eve",
            groups=["system:authenticated"],
            non_resource_attributes=client.V1NonResourceAttributes(verb="get", path="/api"),
        )
        review = await authz.create_subject_access_review(client.V1SubjectAccessReview(spec=spec))
        assert review.status.allowed is True
        assert review.status.reason.startswith(
            'RBAC: allowed by ClusterRoleBinding "system:discovery" of ClusterRole '
            '"system:discovery" to Group "system:authenticated"'
        )

    with_client(body)
