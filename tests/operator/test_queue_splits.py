"""Queue splitting in the operator, in process over the fake cluster and a real SQS (moto).

Two sessions of deployment/consumer split its SQS queue with different message filters:
while they run, the workload's env names the fallback queue and each session's env its own
temporary queue; 200 messages published to the original reach exactly the queue their
filters say (the rest the fallback); once both have left, the env names the original again,
every queue the split made is drained back into it and deleted, and no message is lost.
A split that cannot start refuses the connect in one line and leaves the workload as it was.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import pytest

from podtap.backends.base import TargetRef
from podtap.backends.brokers.base import BrokerClient, Outgoing
from podtap.backends.brokers.factory import broker_client
from podtap.backends.local.manifests import parse_text
from podtap.client.host.operator_api import (
    ClientSession,
    OperatorAddress,
    OperatorApi,
    OperatorRefused,
)
from podtap.core.config.queues import QueueSplitConfig, QueueType
from podtap.core.ids import RequestId, format_session_id
from podtap.core.protocol import CloseReason, EnvRequest, EnvResponse
from podtap.core.queues import QueueKind
from podtap.operator.records import SessionRecord
from podtap.operator.service import ConnectOptions, OperatorError, OperatorService
from podtap.testing.brokers import Sqs, rabbitmq, sqs, unique_name
from podtap.testing.fakebackend import FakeCluster
from tests.operator.inproc import ROOT, audit_events, get, operator

CONSUMER = """
apiVersion: apps/v1
kind: Deployment
metadata: {name: consumer}
spec:
  replicas: 1
  selector: {matchLabels: {app: consumer}}
  template:
    metadata: {labels: {app: consumer}}
    spec:
      containers:
        - name: app
          command: ["sleep", "1000"]
          env: [{name: QUEUE_NAME, value: ORIGINAL}, {name: LOG_LEVEL, value: info}]
"""
WHO = ("alice", "bob", "carol")
TYPES = {QueueKind.SQS: QueueType.SQS, QueueKind.RMQ: QueueType.RMQ}
PEEK: dict[str, dict[str, str]] = {}  # a client's address -> its config
STATUS = "/apis/operator.podtap.dev/v1/operators/operator"


@pytest.fixture(scope="module")
def sqs_broker() -> Iterator[Sqs]:
    with sqs() as broker:
        yield broker
    assert broker.leftovers() == []


def _client_config(broker: Sqs) -> dict[str, str]:
    return {
        "endpointUrl": broker.endpoint_url,
        "region": broker.region,
        "accessKeyId": broker.access_key,
        "secretAccessKey": broker.secret_key,
    }


def _split_config(
    client_config: dict[str, str], *, env: str = "QUEUE_NAME", kind: str = "sqs"
) -> dict[str, Any]:
    return {
        "apiVersion": "queues.podtap.dev/v1alpha1",
        "kind": "PodtapSplitConfig",
        "metadata": {"name": "consumer", "namespace": "default"},
        "spec": {
            "targetRef": {"kind": "Deployment", "name": "consumer"},
            "queues": [
                {"id": "orders", "kind": kind, "clientConfig": client_config,
                 "appConfig": {"env": env}},
            ],
            "tmpNameTemplate": "pt-{{ID}}-{{ORIGINAL}}",
            "restart": {"timeout": 20},
            "drainTimeout": 60,
        },
    }  # fmt: skip


def _cluster(original: str) -> FakeCluster:
    return FakeCluster(parse_text(CONSUMER.replace("ORIGINAL", original), source="c.yaml"))


def _wants(who: str, kind: QueueKind = QueueKind.SQS) -> ConnectOptions:
    entry = QueueSplitConfig(
        queue_id="orders", queue_type=TYPES[kind], message_filter={"who": f"^{who}$"}
    )
    return ConnectOptions(splits=(entry,))


async def _session(
    service: OperatorService, options: ConnectOptions, *, whoami: str = "alice"
) -> SessionRecord:
    opening = await service.open(
        ROOT,
        target=TargetRef.parse("deployment/consumer"),
        namespace="default",
        whoami=whoami,
        host="laptop",
        client_version="test",
        resume=None,
        options=options,
    )
    assert opening.resolved.container.name == "app"
    return service.begin(opening)


async def _workload_env(cluster: FakeCluster) -> dict[str, str]:
    (obj,) = await cluster.list_resources("Deployment", namespace="default")
    (container,) = obj["spec"]["template"]["spec"]["containers"]
    return {e["name"]: e["value"] for e in container["env"]}


def _session_env(service: OperatorService, record: SessionRecord) -> dict[str, str]:
    pod = {"QUEUE_NAME": "what-the-pod-has", "LOG_LEVEL": "info"}
    seen = service.splits.screen(record.id, EnvResponse(request=RequestId(1), env=pod))
    assert isinstance(seen, EnvResponse)
    return dict(seen.env)


async def _until(check: Callable[[], Awaitable[bool]], *, what: str, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if await check():
            return
        await asyncio.sleep(0.1)  # polling a broker and the cluster, with a deadline
    raise AssertionError(f"not within {timeout} s: {what}")


def _message(kind: QueueKind, n: int) -> Outgoing:
    if kind is QueueKind.RMQ:
        return Outgoing(str(n).encode(), (("who", WHO[n % 3]),), properties={"message_id": f"{n}"})
    return Outgoing(str(n).encode(), (("who", {"DataType": "String", "StringValue": WHO[n % 3]}),))


async def _publish(
    client: BrokerClient, queue: str, count: int, *, kind: QueueKind = QueueKind.SQS
) -> None:
    for start in range(0, count, 50):
        batch = [_message(kind, n) for n in range(start, min(count, start + 50))]
        await client.publish(queue, batch)


async def _peek(like: BrokerClient, queue: str, count: int) -> list[tuple[int, str]]:
    """Every message of ``queue`` (``count`` of them), given back to it afterwards, by a
    client of its own that then goes (a RabbitMQ consumer holds what it was given)."""
    client = broker_client(like.kind, PEEK[like.address])
    await client.connect()
    got: dict[str, Any] = {}
    deadline = time.monotonic() + 30
    try:
        while len(got) < count and time.monotonic() < deadline:
            for d in await client.receive(queue, max_messages=10, wait=1):
                got[str(d.id)] = d
        await client.release(list(got.values()))
    finally:
        await client.close()
    assert len(got) == count, f"{queue}: {len(got)} messages, not {count}"
    return sorted((int(d.outgoing.body), d.message.attributes["who"]) for d in got.values())


async def _queues(client: BrokerClient, *names: str) -> set[str]:
    alive = set()
    for name in names:
        try:
            await client.depth(name)
            alive.add(name)
        except Exception:
            pass
    return alive


def test_two_sessions_split_a_real_sqs_queue_and_nothing_is_lost(
    tmp_path: Path, sqs_broker: Sqs
) -> None:
    asyncio.run(_two_sessions(tmp_path, QueueKind.SQS, _client_config(sqs_broker)))


def test_two_sessions_split_a_real_rabbitmq_queue_and_nothing_is_lost(tmp_path: Path) -> None:
    with rabbitmq() as broker:
        asyncio.run(_two_sessions(tmp_path, QueueKind.RMQ, {"url": broker.url}))
    assert broker.leftovers() == []


async def _two_sessions(tmp_path: Path, kind: QueueKind, config: dict[str, str]) -> None:
    original = unique_name("orders")
    cluster = _cluster(original)
    await cluster.put_resource(_split_config(config, kind=kind.value))
    client = broker_client(kind, config)
    PEEK[client.address] = config
    await client.connect()
    await client.create_queue(original)
    try:
        async with operator(tmp_path, cluster=cluster) as (service, sock):
            alice = await _session(service, _wants("alice", kind))
            bob = await _session(service, _wants("bob", kind), whoami="bob")
            fallback = f"pt-fallback-{original}"
            mine = {r.id: f"pt-{format_session_id(r.id)}-{original}" for r in (alice, bob)}
            assert (await _workload_env(cluster))["QUEUE_NAME"] == fallback
            for record in (alice, bob):
                env = {"QUEUE_NAME": mine[record.id], "LOG_LEVEL": "info"}
                assert _session_env(service, record) == env
            _, status = await asyncio.to_thread(get, sock, STATUS)  # operator status -o json
            (row,) = status["splits"]
            assert row["workload"] == "default/deployment/consumer" and row["phase"] == "active"
            assert row["sessions"] == sorted(format_session_id(r.id) for r in (alice, bob))
            assert row["queues"][format_session_id(alice.id)] == {original: mine[alice.id]}
            assert row["queues"]["fallback"] == {original: fallback}
            assert (row["namespace"], row["target"]) == ("default", "deployment/consumer")
            assert row["pods"] == {"patched": 1, "ready": 1}  # rolled out on the fallback
            by_id = {m["session"]: m for m in row["members"]}
            for record, who in ((alice, "alice"), (bob, "bob")):
                member = by_id[format_session_id(record.id)]
                assert member["user"] == record.owner and who in member["user"]
                assert member["queues"] == {original: mine[record.id]}
                assert member["filters"] == {
                    "orders": {"queue_type": TYPES[kind].value, "queue_mode": "steal",
                               "message_filter": {"who": f"^{who}$"}, "jq_filter": None}
                }  # fmt: skip

            await _publish(client, original, 200, kind=kind)
            split_queues = [*mine.values(), fallback]

            async def routed() -> bool:
                depths = [await client.depth(q) for q in split_queues]
                return depths == [67, 67, 66]

            await _until(routed, what="200 messages routed", timeout=60)
            # each session's queue holds exactly its matches, the fallback the rest
            assert {w for _, w in await _peek(client, mine[alice.id], 67)} == {"alice"}
            assert {w for _, w in await _peek(client, mine[bob.id], 67)} == {"bob"}
            assert {w for _, w in await _peek(client, fallback, 66)} == {"carol"}
            counted = service.splits.status()[0]["routed"]
            assert counted == {format_session_id(alice.id): 67,
                               format_session_id(bob.id): 67, "fallback": 66}  # fmt: skip

            await service.end(alice, CloseReason.CLIENT_EXITED, "done")
            await _until(
                lambda: _gone(client, mine[alice.id]), what="alice's queue drained", timeout=60
            )
            assert (await _workload_env(cluster))["QUEUE_NAME"] == fallback  # bob still splits
            await service.end(bob, CloseReason.CLIENT_EXITED, "done")

            async def over() -> bool:
                return not service.splits.splits and not await _queues(client, *split_queues)

            await _until(over, what="the split over, its queues deleted", timeout=90)
            assert (await _workload_env(cluster))["QUEUE_NAME"] == original
            numbers = [n for n, _ in await _peek(client, original, 200)]
            assert numbers == list(range(200))  # every message back in the original, once
            events = [e["event"] for e in audit_events(service) if e["event"].startswith("split")]
            assert events[:2] == ["split_start", "split_ready"]
            assert "split_drain" in events and events[-1] == "split_end"
            metrics = service.metrics.render().decode()
            assert 'podtap_queue_messages_routed_total{to="fallback"' in metrics.replace(
                'workload="default/deployment/consumer",', ""
            )
    finally:
        await client.delete_queue(original)
        await client.close()


async def _gone(client: BrokerClient, queue: str) -> bool:
    return not await _queues(client, queue)


def test_a_split_that_cannot_start_refuses_the_connect_and_leaves_the_workload(
    tmp_path: Path, sqs_broker: Sqs
) -> None:
    asyncio.run(_refusals(tmp_path, _client_config(sqs_broker)))


async def _refusals(tmp_path: Path, config: dict[str, str]) -> None:
    original = unique_name("orders")
    cluster = _cluster(original)
    async with operator(tmp_path, cluster=cluster) as (service, _):
        with pytest.raises(OperatorError, match="no PodtapSplitConfig in namespace 'default'"):
            await _session(service, _wants("alice"))
        await cluster.put_resource(_split_config(config, env="ORDERS_QUEUE"))
        with pytest.raises(OperatorError, match="the pod has no env var 'ORDERS_QUEUE'"):
            await _session(service, _wants("alice"))
        unreachable = {**config, "endpointUrl": "http://127.0.0.1:9"}
        await cluster.put_resource(_split_config(unreachable))
        with pytest.raises(OperatorError, match="cannot reach") as caught:
            await _session(service, _wants("alice"))
        assert "\n" not in str(caught.value)
        other = QueueSplitConfig(queue_id="payments")
        with pytest.raises(OperatorError, match="has no queue 'payments' to split"):
            await _session(service, ConnectOptions(splits=(other,)))
        assert (await _workload_env(cluster))["QUEUE_NAME"] == original
        assert service.records == {}
        await _until(_no_splits(service), what="the failed splits forgotten", timeout=10)
        refusals = [e for e in audit_events(service) if e["event"] == "refusal"]
        assert len(refusals) == 4


def _no_splits(service: OperatorService) -> Callable[[], Awaitable[bool]]:
    async def check() -> bool:
        return not service.splits.splits

    return check


def test_an_operator_that_stops_ends_its_splits_first(tmp_path: Path, sqs_broker: Sqs) -> None:
    asyncio.run(_stopping(tmp_path, _client_config(sqs_broker)))


@asynccontextmanager
async def sqs_split(config: dict[str, str]) -> AsyncIterator[tuple[str, FakeCluster, BrokerClient]]:
    """An original SQS queue, deployment/consumer reading it and its split config, and a
    client of the broker; the queue deleted afterwards, whatever happened."""
    original = unique_name("orders")
    cluster = _cluster(original)
    await cluster.put_resource(_split_config(config))
    client = broker_client(QueueKind.SQS, config)
    PEEK[client.address] = config
    await client.connect()
    await client.create_queue(original)
    try:
        yield original, cluster, client
    finally:
        await client.delete_queue(original)
        await client.close()


async def _stopping(tmp_path: Path, config: dict[str, str]) -> None:
    async with sqs_split(config) as (original, cluster, client):
        async with operator(tmp_path, cluster=cluster) as (service, _):
            alice = await _session(service, _wants("alice"))
            queue = f"pt-{format_session_id(alice.id)}-{original}"
            await _publish(client, original, 30)
            await _until(lambda: _depth_is(client, queue, 10), what="alice's 10", timeout=30)
        assert (await _workload_env(cluster))["QUEUE_NAME"] == original
        fallback = f"pt-fallback-{original}"
        assert not await _queues(client, queue, fallback)
        assert len(await _peek(client, original, 30)) == 30


async def _depth_is(client: BrokerClient, queue: str, count: int) -> bool:
    return await client.depth(queue) == count


def test_through_the_client_api_the_session_reads_its_own_queue(
    tmp_path: Path, sqs_broker: Sqs
) -> None:
    """As `podtap exec` connects: the split request in the query, the env answer from the
    agent of the rolled-out pod screened on its way to the client; a refusal is one line."""
    asyncio.run(_through_the_api(tmp_path, _client_config(sqs_broker)))


async def _env(session: ClientSession) -> dict[str, str]:
    await session.wire.send(EnvRequest(request=RequestId(5)))
    async with asyncio.timeout(10):
        while not isinstance(message := await session.wire.receive(), EnvResponse):
            pass
    return dict(message.env)


async def _through_the_api(tmp_path: Path, config: dict[str, str]) -> None:
    original = unique_name("orders")
    cluster = FakeCluster(
        parse_text(CONSUMER.replace("ORIGINAL", original), source="c.yaml"), agents=True
    )
    client = broker_client(QueueKind.SQS, config)
    await client.connect()
    await client.create_queue(original)
    try:
        async with operator(tmp_path, cluster=cluster) as (service, sock):
            api = OperatorApi(OperatorAddress(f"unix:{sock}"))
            splits = _wants("alice").splits
            with pytest.raises(OperatorRefused, match="no PodtapSplitConfig") as caught:
                async with api.connect("deployment/consumer", splits=splits):
                    pass
            assert caught.value.status == 409 and "\n" not in str(caught.value)
            await cluster.put_resource(_split_config(config))
            async with api.connect("deployment/consumer", splits=splits) as session:
                mine = f"pt-{format_session_id(session.id)}-{original}"
                assert (await _env(session))["QUEUE_NAME"] == mine
                assert (await _workload_env(cluster))["QUEUE_NAME"] == f"pt-fallback-{original}"
            await _until(_no_splits(service), what="the split over", timeout=60)
            assert (await _workload_env(cluster))["QUEUE_NAME"] == original
    finally:
        await client.delete_queue(original)
        await client.close()
