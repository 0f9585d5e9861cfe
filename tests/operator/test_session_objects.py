"""Sessions as PodtapSession objects: what `kubectl get podtapsessions` shows, checked
against the chart's own CRD (rendered by the real helm, served by the API server in-process),
and a restore that gives back exactly the records that were written."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from typing import Any

import jsonschema
import pytest

from podtap.backends.kubernetes.config import kubeconfig_client
from podtap.backends.kubernetes.rest import Rest
from podtap.backends.local.kubeapi.app import Running
from podtap.core.ids import Port, SessionId
from podtap.core.protocol import HttpFilter, IncomingMode
from podtap.core.sessions import SessionRecord, SessionState, SubscriptionRecord, kube_principal
from podtap.operator.records import record_to_json
from podtap.operator.session_objects import COLLECTION, session_object
from podtap.operator.session_store import CrdSessionStore
from tests.operator.crds import api_with_sessions, session_crd


@pytest.fixture(scope="module")
def crd() -> dict[str, Any]:
    return session_crd()


def record(sid: int = 0xA1, *, state: SessionState = SessionState.ATTACHED) -> SessionRecord:
    r = SessionRecord(
        id=SessionId(sid),
        owner="alice/alice@laptop",
        principal=kube_principal("alice"),
        target="deployment/shop/container/app",
        namespace="team-a",
        pod="shop-7d9-x",
        client_version="0.1.0",
        created=1_790_000_000.0,
        last_seen=1_790_000_060.0,
        key="ticket-42",
        state=state,
    )
    r.subscriptions[Port(80)] = SubscriptionRecord(
        Port(80), IncomingMode.STEAL, HttpFilter(header=r"^x-user: alice$"), 1_790_000_001.0
    )
    return r


def test_the_object_is_valid_for_the_charts_crd_and_says_who_uses_what(
    crd: dict[str, Any],
) -> None:
    obj = session_object(record())
    schema = crd["spec"]["versions"][0]["schema"]["openAPIV3Schema"]
    jsonschema.validate(obj, schema)
    assert obj["metadata"]["name"] == "00000000000000a1"
    spec = obj["spec"]
    assert (spec["user"], spec["mode"], spec["pod"]) == ("alice", "filtered-steal", "shop-7d9-x")
    assert spec["target"] == {
        "kind": "deployment",
        "name": "shop",
        "namespace": "team-a",
        "container": "app",
    }
    assert spec["ports"] == [{"port": 80, "mode": "steal", "filter": "header=^x-user: alice$"}]
    assert obj["status"] == {
        "state": "Active",
        "connections": 1,
        "lastSeen": "2026-09-21T14:14:20Z",
    }


@pytest.fixture(scope="module")
def api() -> Iterator[Running]:
    with api_with_sessions() as running:
        yield running


def test_written_behind_restored_exactly_and_dropped(api: Running) -> None:
    async def go() -> None:
        rest = Rest(await kubeconfig_client(path=api.kubeconfig, context=None))
        try:
            store = CrdSessionStore(rest)
            assert await store.restore() == []
            first = record()
            store.put(first)
            first.state = SessionState.DETACHED  # changed while the write may be on its way
            store.put(first)
            await store.flushed()
            shown = await rest.get(f"{COLLECTION}/00000000000000a1")
            assert shown["status"]["state"] == "Reconnecting"
            assert shown["spec"]["user"] == "alice"
            await store.aclose()

            again = CrdSessionStore(rest)
            (restored,) = await again.restore()
            restored_json, first_json = record_to_json(restored), record_to_json(first)
            del restored_json["last_seen"], first_json["last_seen"]  # a restore is "seen now"
            assert restored_json == first_json
            assert restored.principal == "user:alice"
            again.drop(first.id)
            await again.flushed()
            assert await rest.get_or_none(f"{COLLECTION}/00000000000000a1") is None
            await again.aclose()
        finally:
            await rest.api.close()

    asyncio.run(go())


def test_a_change_made_by_someone_else_is_read_again_not_lost(api: Running) -> None:
    async def go() -> None:
        rest = Rest(await kubeconfig_client(path=api.kubeconfig, context=None))
        try:
            store = CrdSessionStore(rest)
            await store.restore()
            r = record(0xB2)
            store.put(r)
            await store.flushed()
            path = f"{COLLECTION}/00000000000000b2"
            theirs = await rest.get(path)
            theirs["metadata"].setdefault("labels", {})["touched"] = "yes"
            await rest.call("PUT", path, body=theirs)  # our resourceVersion is stale now
            r.subscriptions.clear()
            store.put(r)
            await store.flushed()
            assert (await rest.get(path))["spec"]["mode"] == "none"
            store.drop(r.id)
            await store.aclose()
            assert await rest.get_or_none(path) is None
        finally:
            await rest.api.close()

    asyncio.run(go())
