"""The API server's pure pieces: store history, protobuf bodies, routes, discovery, ages."""

from __future__ import annotations

import pytest

from podtap.backends.local.kubeapi import discovery, protobuf, routes
from podtap.backends.local.kubeapi.registry import Registry
from podtap.backends.local.kubeapi.status import ApiError
from podtap.backends.local.kubeapi.store import Key, Store, TooOld
from podtap.backends.local.kubeapi.table import human_duration


def test_store_versions_history_and_expiry() -> None:
    store = Store(history=2)
    key = Key("", "configmaps", "default", "a")
    first = store.put(key, {"metadata": {"name": "a"}})
    store.put(key, {"metadata": {"name": "a"}, "data": {"x": "1"}})
    assert first["metadata"]["resourceVersion"] == "1" and store.revision == 2
    assert [e.type for e in store.since(0)] == ["ADDED", "MODIFIED"]
    store.delete(key)
    assert [e.type for e in store.since(1)] == ["MODIFIED", "DELETED"]
    with pytest.raises(TooOld) as old:
        list(store.since(0))
    assert (old.value.requested, old.value.oldest) == (0, 2)


def _field(num: int, payload: bytes) -> bytes:
    return bytes([num << 3 | 2, len(payload)]) + payload


def test_protobuf_namespace_body() -> None:
    """A Namespace as client-go encodes it: empty fields written, dropped when decoding."""
    meta = _field(1, b"demo") + _field(2, b"") + _field(11, _field(1, b"team") + _field(2, b"a"))
    obj = _field(1, meta) + _field(2, b"") + _field(3, b"")
    type_meta = _field(1, b"v1") + _field(2, b"Namespace")
    body = protobuf.MAGIC + _field(1, type_meta) + _field(2, obj)
    assert protobuf.decode(body) == {
        "apiVersion": "v1",
        "kind": "Namespace",
        "metadata": {"name": "demo", "labels": {"team": "a"}},
    }
    with pytest.raises(ApiError) as bad:
        protobuf.decode(b"{}")
    assert bad.value.code == 400


def test_routes_tell_namespaced_collections_from_subresources() -> None:
    registry = Registry()
    pods = routes.resolve(registry, group="", version="v1", rest=["namespaces", "x", "pods"])
    assert (pods.rt.plural, pods.namespace, pods.is_collection) == ("pods", "x", True)
    status = routes.resolve(registry, group="", version="v1", rest=["namespaces", "x", "status"])
    assert (status.rt.plural, status.name, status.subresource) == ("namespaces", "x", "status")
    with pytest.raises(ApiError):
        routes.resolve(registry, group="", version="v1", rest=["pods", "p"])


def test_aggregated_discovery_is_asked_by_kubectl_accept() -> None:
    accept = (
        "application/json;g=apidiscovery.k8s.io;v=v2;as=APIGroupDiscoveryList,"
        "application/json;g=apidiscovery.k8s.io;v=v2beta1;as=APIGroupDiscoveryList,application/json"
    )
    assert discovery.wants_aggregated(accept)
    assert not discovery.wants_aggregated("application/json, */*")
    doc = discovery.aggregated(Registry(), core=False)
    apps = next(i for i in doc["items"] if i["metadata"].get("name") == "apps")
    deploy = next(r for r in apps["versions"][0]["resources"] if r["resource"] == "deployments")
    assert deploy["shortNames"] == ["deploy"] and deploy["scope"] == "Namespaced"
    assert {
        "subresource": "scale",
        "responseKind": {"group": "autoscaling", "version": "v1", "kind": "Scale"},
        "verbs": ["get", "patch", "update"],
    } in deploy["subresources"]


@pytest.mark.parametrize(
    ("seconds", "shown"),
    [
        (5, "5s"),
        (119, "119s"),
        (125, "2m5s"),
        (600, "10m"),
        (3 * 3600 + 60, "3h1m"),
        (50 * 3600, "2d2h"),
    ],
)
def test_ages_print_like_kubectl(seconds: int, shown: str) -> None:
    assert human_duration(seconds) == shown
