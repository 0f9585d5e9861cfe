"""Issue 15's "Done when", per broker, on the embedded cluster with the operator installed
by the chart: a consumer Deployment (examples/queues/consumers) reads the original queue;
the admin applies the example split config with kubectl; two developers' `podtap exec`
sessions with different `message_filter`s each run the same consumer locally, on the
queue their env names; 1,000 messages with mixed attributes are published to the original.
Each session's consumer gets exactly the messages its filter matches (worked out from the
attributes by tests/queues/scenario.py), the deployed workload exactly the rest, once each;
after both sessions end the workload's env names the original again, it consumes new
messages from it, and the broker has no temporary or fallback queue left. A third
developer's session reads nothing: her queue holds her messages until she ends, and the
workload then gets them, drained back, once (so the drain is seen to lose nothing).

The brokers (moto's SQS, RabbitMQ, Tansu's Kafka) run in the node's network namespace on
its gateway address, stopped by their pid before the cluster goes (see
tests/cluster/queue_e2e.py)."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from contextlib import AbstractContextManager
from pathlib import Path
from typing import Any

import pytest

from podtap.backends.local.network import GATEWAY
from podtap.core.queues import FALLBACK_ID, QueueKind, render_queue_name
from podtap.core.queues.models import DEFAULT_TMP_NAME_TEMPLATE
from podtap.testing.brokers import kafka, rabbitmq, sqs, unique_name
from podtap.testing.localcluster import HostSnapshot, LocalCluster
from podtap.testing.wait import wait_until
from tests.cluster.queue_e2e import (
    CASES,
    NAMESPACE,
    Case,
    Session,
    create,
    delete,
    duplicates,
    existing,
    publish,
    recorded,
    split_yaml,
    workload_yaml,
)
from tests.cluster.test_kubectl_local import Kubectl
from tests.conftest import require_root, teardown
from tests.queues.scenario import ALICE, BOB, attributes, destination

COUNT = 1_000
#: The operator as the chart makes it but for short-lived agents. Not the shop's short
#: unused TTL: on a loaded machine the operator can be unready for longer than 10 s while
#: moto keeps a core busy, and a session forgotten meanwhile is unrouted and its queue
#: drained back to the workload (nothing lost, but not what the test asserts).
OPERATOR = ("agent.linger=5",)
HOST = str(GATEWAY)
#: the two developers' message_filters, and whose messages tests/queues/scenario.py says
#: each takes (the rest: the workload's)
FILTERS = {"alice": {"tenant": "^alice$"}, "bob": {"tenant": "^bob$", "region": "^eu-"}}
OWNER = {"alice": ALICE, "bob": BOB}
#: a third developer's filter: her consumer reads nothing, so her queue holds her messages
#: until she ends and they are drained back (to the workload: the scenario's rest)
IDLE = {"tenant": "^carol$"}


@pytest.fixture(scope="module")
def cluster() -> Iterator[LocalCluster]:
    """An embedded cluster of the queue tests' own, with the operator by the chart."""
    require_root()
    made = LocalCluster("t-queues")
    before = HostSnapshot.take(str(made.state_home))
    try:
        made.up(operator_chart=True, values=OPERATOR)
        Kubectl(made.kubeconfig, made.state_home)("create", "namespace", NAMESPACE)
        yield made
    finally:
        problems = teardown(made, before)
        assert not problems, "\n".join(problems)


def _netns(cluster: LocalCluster) -> str:
    pid = int((cluster.state_home / "local" / cluster.name / "node.pid").read_text())
    return f"/proc/{pid}/ns/net"


def _broker(kind: QueueKind, netns: str) -> AbstractContextManager[Any]:
    if kind is QueueKind.SQS:
        return sqs(host=HOST, netns=netns)
    if kind is QueueKind.RMQ:
        return rabbitmq(host=HOST, netns=netns)
    return kafka(host=HOST, netns=netns)


def _config(kind: QueueKind, broker: Any) -> dict[str, str]:
    """The split config's clientConfig (and what the test's own clients use)."""
    if kind is QueueKind.SQS:
        return {"endpointUrl": broker.endpoint_url, "region": broker.region,
                "accessKeyId": broker.access_key, "secretAccessKey": broker.secret_key}  # fmt: skip
    if kind is QueueKind.RMQ:
        return {"url": broker.url}
    return {"bootstrap.servers": broker.bootstrap_servers, "group.id": "events-processor"}


def _env(case: Case, broker: Any, original: str) -> dict[str, str]:
    """The workload's env: its queue, and where its broker is."""
    if case.kind is QueueKind.SQS:
        return {"QUEUE_URL": f"{broker.endpoint_url}/000000000000/{original}",
                "SQS_ENDPOINT": broker.endpoint_url, "AWS_REGION": broker.region,
                "AWS_ACCESS_KEY_ID": "test", "AWS_SECRET_ACCESS_KEY": "test"}  # fmt: skip
    if case.kind is QueueKind.RMQ:
        return {"PAYMENTS_QUEUE": original, "RABBITMQ_URL": broker.url}
    return {"EVENTS_TOPIC": original, "KAFKA_BOOTSTRAP": broker.bootstrap_servers,
            "KAFKA_GROUP": "events-processor"}  # fmt: skip


def _deployment(kubectl: Kubectl, case: Case) -> dict[str, Any]:
    found: dict[str, Any] = kubectl.json("deployment", case.workload, "-n", NAMESPACE)
    return found


def _queue_env(kubectl: Kubectl, case: Case) -> str:
    (container,) = _deployment(kubectl, case)["spec"]["template"]["spec"]["containers"]
    return next(str(e["value"]) for e in container["env"] if e["name"] == case.var)


def _rolled_out(kubectl: Kubectl, case: Case) -> bool:
    """Every pod of the workload is of its current template, and ready."""
    d = _deployment(kubectl, case)
    status, want = d.get("status", {}), d["spec"]["replicas"]
    pods = kubectl.json("pods", "-n", NAMESPACE, "-l", f"app={case.workload}")["items"]
    return bool(
        status.get("observedGeneration") == d["metadata"]["generation"]
        and status.get("updatedReplicas") == want
        and status.get("readyReplicas") == want
        and len(pods) == want
    )


def _splits(cluster: LocalCluster) -> list[dict[str, Any]] | None:
    """The operator's splits (`podtap operator status -o json`); ``None`` while it does not
    answer (on a loaded machine its readiness probe may fail for a moment)."""
    done = cluster.podtap("operator", "status", "-o", "json", check=False)
    if done.returncode != 0:
        return None
    return list(json.loads(done.stdout).get("splits", []))


def _over(cluster: LocalCluster, case: Case) -> bool:
    """Whether the operator answers and has no split of ``case``'s workload."""
    splits = _splits(cluster)
    label = f"{NAMESPACE}/deployment/{case.workload}"
    return splits is not None and not [x for x in splits if x["workload"] == label]


@pytest.mark.timeout(600)  # SQS on moto is slow, the more so on a loaded machine
@pytest.mark.parametrize("kind", list(CASES), ids=[k.value for k in CASES])
def test_two_sessions_split_the_workloads_queue_and_no_message_is_lost(
    cluster: LocalCluster, tmp_path: Path, kind: QueueKind
) -> None:
    case, netns = CASES[kind], _netns(cluster)
    kubectl = Kubectl(cluster.kubeconfig, cluster.state_home)
    records = tmp_path / "records"
    records.mkdir()
    original = unique_name(case.queue_id)
    with _broker(kind, netns) as broker:
        config = _config(kind, broker)
        create(netns, kind, config, original)
        workload = workload_yaml(case, env=_env(case, broker, original), records=records)
        split = split_yaml(case, client_config=config)
        sessions: list[Session] = []
        try:
            kubectl("apply", "-f", "-", stdin=workload)
            wait_until(lambda: _rolled_out(kubectl, case), timeout=60, what="the workload")
            kubectl("apply", "-f", "-", stdin=split)
            _check_split(cluster, kubectl, case, netns, config, original, records, tmp_path,
                         sessions)  # fmt: skip
        finally:
            for session in sessions:
                session.end()
            try:  # the split ends (the workload restored) before the workload goes
                wait_until(lambda: _over(cluster, case), timeout=180, what="the split to end")
            finally:
                kubectl("delete", "-f", "-", "--ignore-not-found", stdin=split, ok=False)
                kubectl("delete", "-f", "-", "--ignore-not-found", stdin=workload, ok=False)
            fallback = _name(case, original, FALLBACK_ID)
            queues = [original, fallback, *(s.queue for s in sessions if s.queue)]
            delete(netns, kind, config, queues)
    assert broker.leftovers() == []


def _name(case: Case, original: str, owner: str) -> str:
    """The name of ``owner``'s queue, by the example's template (or the default)."""
    template = "podtap-{{ID}}-{{ORIGINAL}}" if case.kind is QueueKind.SQS else None
    template = template or DEFAULT_TMP_NAME_TEMPLATE
    return render_queue_name(template, kind=case.kind, original=original, session=owner)


def _check_split(
    cluster: LocalCluster,
    kubectl: Kubectl,
    case: Case,
    netns: str,
    config: dict[str, str],
    original: str,
    records: Path,
    tmp_path: Path,
    sessions: list[Session],
) -> None:
    kind = case.kind
    started = time.monotonic()
    for who, filters in FILTERS.items():
        sessions.append(Session(cluster, case, who=who, tmp=tmp_path, filters=filters))
    carol = Session(cluster, case, who="carol", tmp=tmp_path, filters=IDLE, idle=True)
    sessions.append(carol)
    alice, bob, _ = sessions
    for s in sessions:
        wait_until(s.started, timeout=150, what=f"{s.who}'s consumer on its queue", interval=0.2)
    connected = time.monotonic() - started
    fallback = _name(case, original, FALLBACK_ID)
    assert _queue_env(kubectl, case).endswith(fallback)
    mine = {s.who: s.queue for s in sessions}
    assert len({original, fallback, *mine.values()}) == 5, mine  # each its own queue
    wait_until(lambda: _rolled_out(kubectl, case), timeout=60, what="the workload on fallback")

    numbers = list(range(COUNT))
    begun = time.monotonic()
    publish(netns, kind, config, original, numbers)
    published = time.monotonic() - begun
    want = {who: [n for n in numbers if destination(n) == OWNER.get(who)]
            for who in ("alice", "bob", "workload")}  # fmt: skip
    held = [n for n in want["workload"] if attributes(n)["tenant"] == "carol"]

    def consumed(count: int) -> bool:
        return len({*alice.got(), *bob.got(), *recorded(records)}) >= count

    wait_until(lambda: consumed(COUNT - len(held)), timeout=300, interval=0.5,
               what=f"{COUNT - len(held)} messages consumed (carol's held)")  # fmt: skip
    routed = time.monotonic() - begun
    assert carol.end() == 0, carol.log()  # her queue is drained back, routed to the fallback
    wait_until(lambda: consumed(COUNT), timeout=120, interval=0.5, what="carol's drained back")
    drained = time.monotonic() - begun - routed
    wait_until(lambda: existing(netns, kind, config, [str(carol.queue)]) == [], timeout=60,
               what="carol's queue deleted", interval=0.5)  # fmt: skip
    got = {"alice": alice.got(), "bob": bob.got(), "workload": recorded(records)}
    report = {w: {"got": len(g), "want": len(want[w]), "duplicates": duplicates(g)}
              for w, g in got.items()}  # fmt: skip
    print(f"{kind.value}: 3 sessions connected in {connected:.1f} s, {COUNT} published in "
          f"{published:.1f} s, routed and consumed {routed:.1f} s after the first, carol's "
          f"{len(held)} drained back and consumed in {drained:.1f} s: {report}")  # fmt: skip
    for who, numbers_got in got.items():
        missing = sorted(set(want[who]) - set(numbers_got))
        extra = sorted(set(numbers_got) - set(want[who]))
        assert not missing and not extra, (who, missing[:20], extra[:20], report, _why(cluster))
    assert sum(len(set(g)) for g in got.values()) == COUNT  # none lost
    assert all(not r["duplicates"] for r in report.values()), report
    _restored(cluster, kubectl, case, netns, config, original, records, sessions)


def _restored(
    cluster: LocalCluster,
    kubectl: Kubectl,
    case: Case,
    netns: str,
    config: dict[str, str],
    original: str,
    records: Path,
    sessions: list[Session],
) -> None:
    """Both sessions end: the workload is back on the original, nothing is left."""
    alice, bob, _ = sessions
    ended = time.monotonic()
    for s in (alice, bob):
        assert s.end() == 0, s.log()
    wait_until(lambda: _queue_env(kubectl, case).endswith(original), timeout=120,
               what="the workload's env restored")  # fmt: skip
    wait_until(lambda: _rolled_out(kubectl, case), timeout=90, what="the restored workload")
    wait_until(lambda: _over(cluster, case), timeout=180, what="the split over", interval=0.5)
    restored = time.monotonic() - ended
    made = [_name(case, original, FALLBACK_ID), *(str(s.queue) for s in sessions)]
    left = existing(netns, case.kind, config, made)
    assert left == [], f"queues left on the broker: {left}"
    later = list(range(COUNT, COUNT + 10))
    publish(netns, case.kind, config, original, later)
    wait_until(lambda: set(later) <= set(recorded(records)), timeout=60,
               what="the restored workload consuming the original")  # fmt: skip
    everything_once = sorted(recorded(records) + alice.got() + bob.got())
    assert everything_once == list(range(COUNT + 10)), duplicates(everything_once)
    print(f"{case.kind.value}: sessions ended to split over in {restored:.1f} s")


def _why(cluster: LocalCluster) -> str:
    """What the operator says of the split, and where its log went (for a failure)."""
    kubectl = Kubectl(cluster.kubeconfig, cluster.state_home)
    logs = kubectl("logs", "-n", "podtap", "deploy/podtap-operator", ok=False).stdout
    path = cluster.state_home.parent / f"{cluster.state_home.name}-operator.log"
    path.write_text(logs)
    pods = kubectl("get", "pods", "-A", ok=False).stdout
    return f"splits: {json.dumps(_splits(cluster))}; operator log: {path}; pods:\n{pods}"
