"""Queue splits that go wrong, in process over the fake cluster and the in-memory broker:
pods that do not roll out on the fallback queues refuse the connect and the workload is
restored; a broker that goes away while a split runs loses no message."""

from __future__ import annotations

import asyncio
from collections import deque
from pathlib import Path
from typing import Any

import pytest

from podtap.backends.brokers.base import BrokerClient, Outgoing
from podtap.backends.local.manifests import parse_text
from podtap.core.config.queues import QueueSplitConfig, QueueType
from podtap.core.protocol import CloseReason
from podtap.core.queues import QueueKind
from podtap.operator.queue_splits import QueueSplits
from podtap.operator.service import ConnectOptions, OperatorError, OperatorService
from podtap.testing.fakebackend import FakeCluster
from podtap.testing.fakebroker import FakeBroker
from podtap.testing.wait import async_wait_until
from tests.operator.inproc import audit_events, operator
from tests.operator.test_queue_splits import CONSUMER, _session, _split_config, _workload_env

WANTS = ConnectOptions(
    splits=(
        QueueSplitConfig(
            queue_id="orders", queue_type=QueueType.RMQ, message_filter={"who": "^alice$"}
        ),
    )
)


class StuckRollout(FakeCluster):
    """Pods whose env names a fallback queue never become ready."""

    async def put_resource(self, obj: dict[str, Any]) -> str:
        result = await super().put_resource(obj)
        for pod in self.node.pods.values():
            if any(v.startswith("pt-fallback") for c in pod.containers for v in c.env.values()):
                pod.ready = False
        return result


def _with_broker(service: OperatorService, broker: FakeBroker) -> None:
    def clients(kind: QueueKind, config: Any) -> BrokerClient:
        return broker.client()

    service.splits = QueueSplits(service.backend, audit=service.audit.event, clients=clients)


def _config() -> dict[str, Any]:
    config = _split_config({"url": "amqp://fake/"}, kind="rmq")
    config["spec"]["restart"] = {"timeout": 1}
    return config


def test_pods_that_do_not_roll_out_refuse_the_connect_and_the_workload_is_restored(
    tmp_path: Path,
) -> None:
    async def go() -> None:
        cluster = StuckRollout(parse_text(CONSUMER.replace("ORIGINAL", "orders"), source="c"))
        await cluster.put_resource(_config())
        broker = FakeBroker()
        broker.queues["orders"] = deque()
        async with operator(tmp_path, cluster=cluster) as (service, _):
            _with_broker(service, broker)
            with pytest.raises(OperatorError, match="did not roll out on the fallback") as caught:
                await _session(service, WANTS)
            assert str(caught.value).startswith("feature.split_queues: ")
            await async_wait_until(
                lambda: not service.splits.splits, timeout=10, what="the split undone"
            )
            assert (await _workload_env(cluster))["QUEUE_NAME"] == "orders"
            assert list(broker.queues) == ["orders"]  # its queues deleted
            assert service.records == {}
            events = [e["event"] for e in audit_events(service)]
            assert "split_failed" in events and "refusal" in events

    asyncio.run(go())


def test_a_broker_that_goes_away_while_a_split_runs_loses_no_message(tmp_path: Path) -> None:
    async def go() -> None:
        cluster = FakeCluster(parse_text(CONSUMER.replace("ORIGINAL", "orders"), source="c"))
        await cluster.put_resource(_config())
        broker = FakeBroker()
        broker.queues["orders"] = deque()
        async with operator(tmp_path, cluster=cluster) as (service, _):
            _with_broker(service, broker)
            alice = await _session(service, WANTS)
            publisher = broker.client()
            await publisher.connect()
            who = ("alice", "bob")
            await publisher.publish(
                "orders", [Outgoing(str(n).encode(), (("who", who[n % 2]),)) for n in range(50)]
            )
            broker.drop()  # every connection breaks: the forwarder's and the admin's
            await publisher.connect()
            await publisher.publish(
                "orders",
                [Outgoing(str(n).encode(), (("who", who[n % 2]),)) for n in range(50, 100)],
            )

            def split_up() -> bool:
                queues = {n: len(q) for n, q in broker.queues.items()}
                return sum(queues.values()) >= 100 and queues["orders"] == 0

            await async_wait_until(split_up, timeout=20, what="every message routed")
            (row,) = service.splits.status()
            assert row["delivery"]["reconnects"] >= 1  # the forwarder came back, and says so
            await service.end(alice, CloseReason.CLIENT_EXITED, "done")
            await async_wait_until(
                lambda: not service.splits.splits, timeout=20, what="the split over"
            )
            assert list(broker.queues) == ["orders"]
            assert sorted({int(b) for b in broker.bodies("orders")}) == list(range(100))
            (end,) = [e for e in audit_events(service) if e["event"] == "split_end"]
            assert end["delivery"]["reconnects"] >= 1
            assert set(end["delivery"]) == {"duplicates_skipped", "possible_duplicates",
                                            "reconnects"}  # fmt: skip

    asyncio.run(go())
