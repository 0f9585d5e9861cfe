"""A split whose SQS connection comes from a PodtapBrokerConfig in the operator's namespace,
in process over the fake cluster and a real SQS (moto).

The split config names ``clientConfig: orders-sqs``; that resource inherits its region from a
parent and takes its endpoint and credentials from a Secret (``loadFromSecret``, and one key
by ``valueFrom.secretKeyRef``): the split works only if all of it was resolved. The secret's
values appear nowhere the operator writes (status, audit, the workload). A broker config
that cannot be resolved refuses the connect in one line naming the resource, and the
workload is left as it was.
"""

from __future__ import annotations

import asyncio
import base64
import json
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import pytest

from podtap.core.ids import format_session_id
from podtap.core.protocol import CloseReason
from podtap.operator.server import listening
from podtap.operator.service import OperatorError, OperatorService, OperatorSettings
from podtap.testing.brokers import Sqs
from podtap.testing.fakebackend import FakeCluster
from tests.operator.inproc import audit_events, get
from tests.operator.test_queue_splits import (
    STATUS,
    _client_config,
    _depth_is,
    _no_splits,
    _publish,
    _queues,
    _session,
    _split_config,
    _until,
    _wants,
    _workload_env,
    sqs_broker,
    sqs_split,
)

__all__ = ["sqs_broker"]  # the module's moto server, shared with test_queue_splits

NS = "podtap"  # the operator's namespace
SECRET_KEY = "only-in-the-secret-7f3a"


def _meta(name: str) -> dict[str, str]:
    return {"name": name, "namespace": NS}


def _secret(broker: Sqs, **extra: str) -> dict[str, Any]:
    data = {"endpointUrl": broker.endpoint_url, "accessKeyId": broker.access_key, **extra}
    return {
        "apiVersion": "v1",
        "kind": "Secret",
        "metadata": _meta("sqs-creds"),
        "data": {k: base64.b64encode(v.encode()).decode() for k, v in data.items()},
    }


def _broker_config(name: str, spec: dict[str, Any]) -> dict[str, Any]:
    return {
        "apiVersion": "queues.podtap.dev/v1alpha1",
        "kind": "PodtapBrokerConfig",
        "metadata": _meta(name),
        "spec": spec,
    }


SECRET_REF = {"secretKeyRef": {"name": "sqs-creds", "key": "secretAccessKey"}}
BASE = _broker_config("sqs-base", {"properties": [
    {"name": "region", "value": "eu-west-3"},  # the region moto's queues live in, here
    {"name": "endpointUrl", "value": "http://127.0.0.1:9"},  # the child's secret replaces it
]})  # fmt: skip
ORDERS = _broker_config("orders-sqs", {
    "parent": "sqs-base",
    "loadFromSecret": f"{NS}/sqs-creds",
    "properties": [{"name": "secretAccessKey", "valueFrom": SECRET_REF}],
})  # fmt: skip


async def _put(cluster: FakeCluster, *objs: dict[str, Any]) -> None:
    await cluster.put_resource({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": NS}})
    for obj in objs:
        await cluster.put_resource(obj)


@asynccontextmanager
async def _operator(
    tmp_path: Path, cluster: FakeCluster
) -> AsyncIterator[tuple[OperatorService, Path]]:
    """The operator as the chart starts it: it knows its own namespace."""
    sock = tmp_path / "operator.sock"
    settings = OperatorSettings(state_dir=tmp_path / "operator", namespace=NS, handoff_grace=0.5)
    async with listening(settings, cluster, listen=f"unix:{sock}") as service:
        yield service, sock


def test_sqs_credentials_from_a_secret_through_a_broker_config(
    tmp_path: Path, sqs_broker: Sqs
) -> None:
    asyncio.run(_from_a_secret(tmp_path, sqs_broker))


async def _from_a_secret(tmp_path: Path, broker: Sqs) -> None:
    config = {**_client_config(broker), "region": "eu-west-3"}
    async with sqs_split(config) as (original, cluster, client):
        await _put(
            cluster,
            _secret(broker, secretAccessKey=SECRET_KEY),
            BASE,
            ORDERS,
            _split_config("orders-sqs"),  # type: ignore[arg-type]  # a name, not a mapping
        )
        async with _operator(tmp_path, cluster) as (service, sock):
            alice = await _session(service, _wants("alice"))
            queue = f"pt-{format_session_id(alice.id)}-{original}"
            assert (await _workload_env(cluster))["QUEUE_NAME"] == f"pt-fallback-{original}"
            await _publish(client, original, 30)
            await _until(lambda: _depth_is(client, queue, 10), what="alice's 10", timeout=30)
            _, status = await asyncio.to_thread(get, sock, STATUS)
            written = [
                json.dumps(status),
                json.dumps(audit_events(service)),
                json.dumps(await cluster.list_resources("Deployment", namespace="default")),
            ]
            assert not [w for w in written if SECRET_KEY in w]
            await service.end(alice, CloseReason.CLIENT_EXITED, "done")
            await _until(_no_splits(service), what="the split over", timeout=60)
        assert (await _workload_env(cluster))["QUEUE_NAME"] == original
        assert not await _queues(client, queue, f"pt-fallback-{original}")


@pytest.mark.parametrize(
    ("objs", "why"),
    [
        ((ORDERS,), "PodtapBrokerConfig orders-sqs: parent 'sqs-base' not found"),
        ((BASE, ORDERS), "PodtapBrokerConfig orders-sqs: secret podtap/sqs-creds not found"),
        ((BASE, ORDERS, "secret"),
         "PodtapBrokerConfig orders-sqs: secret podtap/sqs-creds has no key 'secretAccessKey'"),
        ((), "no PodtapBrokerConfig 'orders-sqs' in the operator's namespace 'podtap'"),
    ],
    ids=["no-parent", "no-secret", "no-key", "no-config"],
)  # fmt: skip
def test_a_broker_config_that_cannot_be_resolved_refuses_the_connect(
    tmp_path: Path, sqs_broker: Sqs, objs: tuple[Any, ...], why: str
) -> None:
    asyncio.run(_refused(tmp_path, sqs_broker, objs, why))


async def _refused(tmp_path: Path, broker: Sqs, objs: tuple[Any, ...], why: str) -> None:
    async with sqs_split(_client_config(broker)) as (original, cluster, _):
        made = [_secret(broker) if o == "secret" else o for o in objs]
        await _put(cluster, *made, _split_config("orders-sqs"))  # type: ignore[arg-type]
        async with _operator(tmp_path, cluster) as (service, _):
            with pytest.raises(OperatorError) as caught:
                await _session(service, _wants("alice"))
            message = str(caught.value)
            assert message == (
                "feature.split_queues: PodtapSplitConfig/consumer: spec.queues[0].clientConfig: "
                + why
            )
            assert (await _workload_env(cluster))["QUEUE_NAME"] == original
            assert service.records == {}
