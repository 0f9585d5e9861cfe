"""Helpers of the queue-split end-to-end test (tests/cluster/test_queue_split_e2e.py).

The brokers run in the embedded cluster's node network namespace, on its gateway address,
where its pods (the workload, the operator, the agents that `podtap exec` sessions go out
through) reach them; the host does not. So everything the test itself asks a broker runs
on a thread that joined that namespace (:func:`on_broker`). A workload is one of
examples/queues/consumers' Deployments, pointed at the test's broker and original queue,
recording what each pod consumed in a file of a hostPath directory (its pods come and go
as the split rolls them out); a session is `podtap exec -f CONFIG -- python consumer.py`,
whose stdout is its record.
"""

from __future__ import annotations

import asyncio
import json
import re
import signal
import subprocess
import sys
from collections import Counter
from collections.abc import Awaitable, Callable, Iterable, Mapping, Sequence
from contextlib import suppress
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

import yaml

from podtap.backends.brokers.base import BrokerClient, BrokerError
from podtap.backends.brokers.factory import broker_client
from podtap.core.queues import QueueKind
from podtap.testing.brokers_proc import in_netns
from podtap.testing.localcluster import LocalCluster, podtap_argv
from tests.queues.scenario import outgoing

T = TypeVar("T")
ROOT = Path(__file__).resolve().parents[2]
CONSUMERS = ROOT / "examples" / "queues" / "consumers"
CONSUMER = CONSUMERS / "consumer.py"
NAMESPACE = "shop"
_GOT = re.compile(r"^got (\d+)$", re.M)


@dataclass(frozen=True)
class Case:
    """One broker's workload: its example files and the names in them."""

    kind: QueueKind
    workload: str  # the Deployment's name
    example: str  # examples/queues/<example>: the split config
    var: str  # the env var naming the queue
    queue_id: str
    queue_type: str  # feature.split_queues' queue_type


CASES = {
    QueueKind.SQS: Case(QueueKind.SQS, "orders-consumer", "sqs-orders.yaml", "QUEUE_URL",
                        "orders", "SQS"),
    QueueKind.RMQ: Case(QueueKind.RMQ, "payments-worker", "rabbitmq-payments.yaml",
                        "PAYMENTS_QUEUE", "payments", "RMQ"),
    QueueKind.KAFKA: Case(QueueKind.KAFKA, "events-processor", "kafka-events.yaml",
                          "EVENTS_TOPIC", "events", "Kafka"),
}  # fmt: skip


def on_broker(netns: str, work: Callable[[], Awaitable[T]]) -> T:
    """``await work()`` on a loop of its own, in the node's network namespace."""
    return in_netns(netns, lambda: asyncio.run(work()))  # type: ignore[arg-type]


async def _with_client(
    kind: QueueKind, config: Mapping[str, Any], work: Callable[[BrokerClient], Awaitable[T]]
) -> T:
    client = broker_client(kind, config)
    await client.connect()
    try:
        return await work(client)
    finally:
        await client.close()


def create(netns: str, kind: QueueKind, config: Mapping[str, Any], name: str) -> None:
    on_broker(netns, lambda: _with_client(kind, config, lambda c: c.create_queue(name)))


def delete(netns: str, kind: QueueKind, config: Mapping[str, Any], names: Iterable[str]) -> None:
    async def work(client: BrokerClient) -> None:
        for name in names:
            with suppress(BrokerError):
                await client.delete_queue(name)

    on_broker(netns, lambda: _with_client(kind, config, work))


def publish(
    netns: str, kind: QueueKind, config: Mapping[str, Any], queue: str, numbers: Sequence[int]
) -> None:
    """``numbers``' messages (tests/queues/scenario.py's attributes) into ``queue``."""

    async def work(client: BrokerClient) -> None:
        for i in range(0, len(numbers), 100):
            await client.publish(queue, [outgoing(kind, n) for n in numbers[i : i + 100]])

    on_broker(netns, lambda: _with_client(kind, config, work))


def existing(
    netns: str, kind: QueueKind, config: Mapping[str, Any], names: Iterable[str]
) -> list[str]:
    """Which of ``names`` the broker still has."""

    async def work(client: BrokerClient) -> list[str]:
        found = []
        for name in names:
            try:
                await client.depth(name, group="podtap-e2e-check")
                found.append(name)
            except BrokerError:
                pass
        return found

    return on_broker(netns, lambda: _with_client(kind, config, work))


def got(text: str) -> list[int]:
    """The message numbers a consumer's record lists."""
    return [int(n) for n in _GOT.findall(text)]


def recorded(records: Path) -> list[int]:
    """What every pod of the workload consumed."""
    return [n for f in sorted(records.glob("*.log")) for n in got(f.read_text())]


def duplicates(numbers: Iterable[int]) -> list[int]:
    return sorted(n for n, k in Counter(numbers).items() if k > 1)


def workload_yaml(case: Case, *, env: Mapping[str, str], records: Path) -> str:
    """The example Deployment, its env pointed at the test's broker and queue, its
    command this machine's python on the example consumer, recording into ``records``."""
    doc = yaml.safe_load((CONSUMERS / f"{case.workload}.yaml").read_text())
    pod = doc["spec"]["template"]["spec"]
    (container,) = pod["containers"]
    command = [sys.executable, str(CONSUMER), case.kind.value, "--record", str(records)]
    container["command"] = command
    container["env"] = [{"name": k, "value": v} for k, v in env.items()]
    container["volumeMounts"] = [{"name": "records", "mountPath": str(records)}]
    pod["volumes"] = [{"name": "records", "hostPath": {"path": str(records)}}]
    pod["terminationGracePeriodSeconds"] = 10
    return str(yaml.safe_dump(doc))


def split_yaml(case: Case, *, client_config: Mapping[str, Any]) -> str:
    """The example split config with the test's broker, and no linger (``ttl`` 0)."""
    doc = yaml.safe_load((ROOT / "examples" / "queues" / case.example).read_text())
    spec = doc["spec"]
    (queue,) = spec["queues"]
    queue["clientConfig"] = dict(client_config)
    spec["ttl"] = 0
    spec["restart"] = {"timeout": 90, "waitForPods": True}
    return str(yaml.safe_dump(doc))


class Session:
    """A developer's `podtap exec -f CONFIG -- python consumer.py KIND` on the workload
    (``idle``: its consumer reads nothing, so its queue holds its messages until it ends)."""

    def __init__(
        self,
        cluster: LocalCluster,
        case: Case,
        *,
        who: str,
        tmp: Path,
        filters: dict[str, str],
        idle: bool = False,
    ) -> None:
        self.who = who
        self.out, self.err = tmp / f"{who}.out", tmp / f"{who}.err"
        config = tmp / f"{who}.json"
        entry = {"queue_type": case.queue_type, "message_filter": filters}
        config.write_text(
            json.dumps(
                {
                    "target": {"path": f"deployment/{case.workload}", "namespace": NAMESPACE},
                    "feature": {"split_queues": {case.queue_id: entry}},
                }
            )
        )
        argv = podtap_argv("exec", "-f", str(config), "--", sys.executable, str(CONSUMER))
        with self.out.open("w") as out, self.err.open("w") as err:
            self.proc = subprocess.Popen(
                [*argv, case.kind.value, *(["--idle"] if idle else [])],
                env=cluster.env,
                stdout=out,
                stderr=err,
            )

    @property
    def queue(self) -> str | None:
        """The queue its consumer reads (from the env the session gave it), once it does."""
        found = re.search(r"^consuming (\S+)$", self.out.read_text(), re.M)
        return found.group(1) if found else None

    def started(self) -> str | None:
        if self.proc.poll() is not None:
            raise AssertionError(f"{self.who}'s podtap exec exited: {self.log()}")
        return self.queue

    def got(self) -> list[int]:
        return got(self.out.read_text())

    def log(self) -> str:
        return self.err.read_text()[-3000:]

    def end(self, *, timeout: float = 60) -> int:
        """Ctrl-C, as a developer would: the consumer acks its batch and exits."""
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGINT)
        try:
            return self.proc.wait(timeout)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait(10)
            raise AssertionError(f"{self.who}'s podtap exec did not end: {self.log()}") from None
