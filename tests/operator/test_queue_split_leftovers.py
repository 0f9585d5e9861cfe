"""A queue split outlives the operator that ran it only as a record on its workload: the
operator that comes next finishes the split (the env set back, every queue the split made
drained back into the original and deleted), so no message is lost and nothing is left.
In process over the fake cluster and a real SQS (moto); the operator "dies" by having its
splits stop where they are, with nothing restored, drained or deleted."""

from __future__ import annotations

import asyncio
from pathlib import Path

from podtap.backends.brokers.base import BrokerClient
from podtap.core.ids import format_session_id
from podtap.operator.queue_split_workload import SplitRecord
from podtap.operator.service import OperatorService
from podtap.testing.brokers import Sqs
from podtap.testing.fakebackend import FakeCluster
from tests.operator.inproc import audit_events, operator
from tests.operator.test_queue_splits import (
    _client_config,
    _peek,
    _publish,
    _queues,
    _session,
    _until,
    _wants,
    _workload_env,
    sqs_broker,
    sqs_split,
)

__all__ = ["sqs_broker"]  # the module's broker, a fixture


async def _record(cluster: FakeCluster) -> SplitRecord | None:
    (obj,) = await cluster.list_resources("Deployment", namespace="default")
    return SplitRecord.of(obj)


async def _die(service: OperatorService) -> None:
    """The operator's splits stop as they are, as if its process were killed."""
    for split in list(service.splits.splits.values()):
        await split.close()
    service.splits.splits.clear()
    service.splits.sessions.clear()


async def _depths(client: BrokerClient, wanted: dict[str, int]) -> bool:
    return {q: await client.depth(q) for q in wanted} == wanted


def test_a_split_its_operator_died_with_is_finished_by_the_next_and_nothing_is_lost(
    tmp_path: Path, sqs_broker: Sqs
) -> None:
    asyncio.run(_died(tmp_path, _client_config(sqs_broker)))


async def _died(tmp_path: Path, config: dict[str, str]) -> None:
    async with sqs_split(config) as (original, cluster, client):
        async with operator(tmp_path / "first", cluster=cluster) as (service, _):
            alice = await _session(service, _wants("alice"))
            mine = f"pt-{format_session_id(alice.id)}-{original}"
            fallback = f"pt-fallback-{original}"
            await _publish(client, original, 30)  # alice's are the 10 of n % 3 == 0
            await _until(
                lambda: _depths(client, {mine: 10, fallback: 20}), what="30 routed", timeout=30
            )
            record = await _record(cluster)
            assert record == SplitRecord(
                restore={"app": {"QUEUE_NAME": original}},
                made={fallback: original, mine: original},
            )
            await _die(service)
        # as it died: the workload on the fallback, the split's queues full, the record kept
        assert (await _workload_env(cluster))["QUEUE_NAME"] == fallback
        assert await _queues(client, mine, fallback) == {mine, fallback}
        assert await _record(cluster) == record

        async with operator(tmp_path / "next", cluster=cluster) as (service, _):

            async def finished() -> bool:
                return await _record(cluster) is None and not await _queues(client, mine, fallback)

            await _until(finished, what="the next operator to finish the split", timeout=60)
            assert (await _workload_env(cluster))["QUEUE_NAME"] == original
            assert [n for n, _ in await _peek(client, original, 30)] == list(range(30))
            events = [e for e in audit_events(service) if e["event"].startswith("split")]
            drained = {e["queue"]: e["moved"] for e in events if e["event"] == "split_drain"}
            assert drained == {mine: 10, fallback: 20}
            assert events[-1]["event"] == "split_end" and events[-1]["recovered"] is True
