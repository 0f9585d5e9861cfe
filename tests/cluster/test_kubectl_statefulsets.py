"""StatefulSets roll as kube-controller-manager rolls them, seen through the real kubectl on
a real `podtap local up` cluster: the API server's defaults, ControllerRevisions, pods made
in order and replaced one at a time from the highest ordinal down (each once the previous
is Ready), `partition`, `OnDelete`, `Parallel`, and `kubectl rollout status|history|undo|
restart statefulset/NAME` with upstream's text. One cluster for the module."""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from podtap.testing.localcluster import HostSnapshot, LocalCluster
from podtap.testing.wait import wait_until
from tests.cluster.test_kubectl_local import Kubectl
from tests.conftest import require_root, teardown

REVISION = "controller-revision-hash"
# sh as the container's first process: TERM ends it at once (no grace period to sit out)
DONE = "partitioned roll out complete: 3 new pods have been updated..."
MAIN = "trap 'kill $!; exit 0' TERM; sleep 3600 & wait"


def manifest(name: str, *, replicas: int = 3, ready: bool = True, **spec: str) -> str:
    extra = "".join(f"  {k}: {v}\n" for k, v in spec.items())
    start = "touch /mnt/ok; " if ready else ""  # else: ready once a test touches it
    return f"""
apiVersion: apps/v1
kind: StatefulSet
metadata: {{name: {name}}}
spec:
  replicas: {replicas}
  serviceName: {name}
  selector: {{matchLabels: {{app: {name}}}}}
{extra}  template:
    metadata: {{labels: {{app: {name}}}}}
    spec:
      containers:
        - name: main
          image: busybox
          command: ["sh", "-c", "{start}{MAIN}"]
          env: [{{name: V, value: one}}]
          readinessProbe: {{exec: {{command: [test, -f, /mnt/ok]}}, periodSeconds: 1}}
          volumeMounts: [{{name: ready, mountPath: /mnt}}]
      volumes: [{{name: ready, emptyDir: {{}}}}]
"""


@pytest.fixture(scope="module")
def kubectl(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Kubectl]:
    require_root()
    cluster = LocalCluster("t-ksts")
    before = HostSnapshot.take(str(cluster.state_home))
    try:
        cluster.up()
        config = Path(cluster.podtap("local", "kubeconfig").stdout.strip())
        yield Kubectl(config, tmp_path_factory.mktemp("home"))
    finally:
        problems = teardown(cluster, before)
        assert not problems, "\n".join(problems)


@pytest.fixture
def sts(kubectl: Kubectl, request: pytest.FixtureRequest) -> Iterator[str]:
    """A StatefulSet name for one test, deleted (with its pods) after it."""
    name = request.node.name.removeprefix("test_").split("_")[0]
    yield name
    kubectl("delete", "statefulset", name, "--ignore-not-found", "--wait=false")
    wait_until(lambda: not _pods(kubectl, name), timeout=60, what=f"{name}'s pods gone")


def _pods(kubectl: Kubectl, name: str) -> dict[int, dict[str, Any]]:
    """The set's pods by ordinal: uid, revision label, ready."""
    out = {}
    for pod in kubectl.json("pods", "-l", f"app={name}")["items"]:
        meta, conditions = pod["metadata"], pod["status"].get("conditions") or []
        out[int(meta["labels"]["apps.kubernetes.io/pod-index"])] = {
            "uid": meta["uid"],
            "revision": meta["labels"].get(REVISION),
            "ready": any(c["type"] == "Ready" and c["status"] == "True" for c in conditions),
        }
    return out


def _watch(kubectl: Kubectl, name: str, *args: str, done: str) -> list[dict[int, dict[str, Any]]]:
    """Snapshots of the set's pods from before `kubectl ARGS` until `kubectl rollout
    status` says `done`."""
    seen = [_pods(kubectl, name)]
    if args:
        kubectl(*args)
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        seen.append(_pods(kubectl, name))
        status = kubectl("rollout", "status", f"statefulset/{name}", "--watch=false", ok=False)
        if done in status.stdout:
            seen.append(_pods(kubectl, name))
            return seen
    raise AssertionError(f"rollout of {name} did not finish: {seen[-1]}")


def _replaced_order(seen: list[dict[int, dict[str, Any]]]) -> list[int]:
    """The ordinals in the order their pods got a new uid."""
    first, order = seen[0], []
    for snap in seen[1:]:
        for i, pod in sorted(snap.items(), reverse=True):
            if pod["uid"] != first[i]["uid"] and i not in order:
                order.append(i)
    return order


def _one_at_a_time(seen: list[dict[int, dict[str, Any]]], replicas: int) -> None:
    """Never two pods missing or unready at once."""
    for snap in seen:
        down = [i for i in range(replicas) if not snap.get(i, {}).get("ready")]
        assert len(down) <= 1, (down, snap)


def _env(kubectl: Kubectl, pod: str) -> str:
    return kubectl("exec", pod, "--", "printenv", "V").stdout.strip()


def _revisions(kubectl: Kubectl, name: str) -> dict[str, int]:
    items = kubectl.json("controllerrevisions", "-l", f"app={name}")["items"]
    return {cr["metadata"]["name"]: cr["revision"] for cr in items}


def test_web_defaults_revisions_and_ordered_start(kubectl: Kubectl, sts: str) -> None:
    kubectl("apply", "-f", "-", stdin=manifest(sts))
    spec = kubectl.json("statefulset", sts)["spec"]
    assert spec["updateStrategy"] == {
        "type": "RollingUpdate",
        "rollingUpdate": {"partition": 0, "maxUnavailable": 1},
    }
    assert (spec["podManagementPolicy"], spec["revisionHistoryLimit"]) == ("OrderedReady", 10)
    seen = _watch(kubectl, sts, done=DONE)
    # OrderedReady: pod N is made only once N-1 is ready
    for snap in seen:
        assert sorted(snap) == list(range(len(snap))), snap
        assert all(snap[i]["ready"] for i in range(len(snap) - 1)), snap
    (name, number), *others = _revisions(kubectl, sts).items()
    assert not others and number == 1 and name.startswith(f"{sts}-")
    cr = kubectl.json("controllerrevision", name)
    assert cr["metadata"]["ownerReferences"][0]["kind"] == "StatefulSet"
    assert cr["data"]["spec"]["template"]["$patch"] == "replace"
    pods = _pods(kubectl, sts)
    assert {p["revision"] for p in pods.values()} == {name}
    status = kubectl.json("statefulset", sts)["status"]
    assert status == status | {
        "observedGeneration": 1,
        "replicas": 3,
        "readyReplicas": 3,
        "availableReplicas": 3,
        "currentReplicas": 3,
        "updatedReplicas": 3,
        "currentRevision": name,
        "updateRevision": name,
        "collisionCount": 0,
    }
    out = kubectl("rollout", "status", f"statefulset/{sts}", "--timeout=30s").stdout
    assert out.strip() == "partitioned roll out complete: 3 new pods have been updated..."
    described = [
        " ".join(line.split())
        for line in kubectl("describe", "statefulset", sts).stdout.split("\n")
    ]
    for line in ("Replicas: 3 desired | 3 total", "Update Strategy: RollingUpdate", "Partition: 0"):
        assert line in described, described
    assert "Pods Status: 3 Running / 0 Waiting / 0 Succeeded / 0 Failed" in described, described

    # scale down: the highest ordinal goes first
    kubectl("scale", f"statefulset/{sts}", "--replicas=1")
    gone: list[int] = []

    def both_gone() -> bool:
        present = _pods(kubectl, sts)
        gone.extend(i for i in (2, 1) if i not in present and i not in gone)
        return len(gone) == 2

    wait_until(both_gone, timeout=60, what="scaled down")
    assert gone == [2, 1]


def test_roll_update_history_undo_restart(kubectl: Kubectl, sts: str) -> None:
    kubectl("apply", "-f", "-", stdin=manifest(sts))
    kubectl("rollout", "status", f"statefulset/{sts}", "--timeout=90s")
    (first,) = _revisions(kubectl, sts)

    seen = _watch(kubectl, sts, "set", "env", f"statefulset/{sts}", "V=two", done=DONE)
    assert _replaced_order(seen) == [2, 1, 0]
    _one_at_a_time(seen, 3)
    assert [_env(kubectl, f"{sts}-{i}") for i in range(3)] == ["two"] * 3
    revisions = _revisions(kubectl, sts)
    (second,) = set(revisions) - {first}
    assert revisions == {first: 1, second: 2}
    assert {p["revision"] for p in _pods(kubectl, sts).values()} == {second}
    history = kubectl("rollout", "history", f"statefulset/{sts}").stdout.split("\n")
    assert history[1].split() == ["REVISION", "CHANGE-CAUSE"], history
    assert [line.split()[0] for line in history[2:] if line.strip()] == ["1", "2"], history
    two = kubectl("rollout", "history", f"statefulset/{sts}", "--revision=2").stdout
    assert "V:\ttwo" in two, two

    # undo: the first revision comes back as number 3, and the pods with its template
    seen = _watch(kubectl, sts, "rollout", "undo", f"statefulset/{sts}", done=DONE)
    assert _replaced_order(seen) == [2, 1, 0]
    assert [_env(kubectl, f"{sts}-{i}") for i in range(3)] == ["one"] * 3
    assert _revisions(kubectl, sts) == {first: 3, second: 2}
    status = kubectl.json("statefulset", sts)["status"]
    assert status["currentRevision"] == status["updateRevision"] == first

    # restart: every pod replaced, in order, one at a time
    seen = _watch(kubectl, sts, "rollout", "restart", f"statefulset/{sts}", done=DONE)
    assert _replaced_order(seen) == [2, 1, 0]
    _one_at_a_time(seen, 3)


def test_canary_partition_keeps_lower_ordinals(kubectl: Kubectl, sts: str) -> None:
    strategy = "{type: RollingUpdate, rollingUpdate: {partition: 2}}"
    kubectl("apply", "-f", "-", stdin=manifest(sts, updateStrategy=strategy))
    kubectl("rollout", "status", f"statefulset/{sts}", "--timeout=90s")
    before = _pods(kubectl, sts)
    kubectl("set", "env", f"statefulset/{sts}", "V=two")
    _watch(kubectl, sts, done="partitioned roll out complete: 1 new pods")
    after = _pods(kubectl, sts)
    assert [after[i]["uid"] == before[i]["uid"] for i in range(3)] == [True, True, False]
    assert [_env(kubectl, f"{sts}-{i}") for i in range(3)] == ["one", "one", "two"]
    status = kubectl.json("statefulset", sts)["status"]
    assert (status["currentReplicas"], status["updatedReplicas"]) == (2, 1)
    assert status["currentRevision"] != status["updateRevision"]


def test_ondelete_replaces_only_deleted_pods_and_trims_history(kubectl: Kubectl, sts: str) -> None:
    text = manifest(sts, replicas=2, updateStrategy="{type: OnDelete}", revisionHistoryLimit="1")
    kubectl("apply", "-f", "-", stdin=text)
    wait_until(
        lambda: [p["ready"] for p in _pods(kubectl, sts).values()] == [True, True],
        timeout=90,
        what="two ready pods",
    )
    refused = kubectl("rollout", "status", f"statefulset/{sts}", ok=False)
    assert refused.returncode == 1
    assert "rollout status is only available for RollingUpdate strategy type" in refused.stderr
    before = _pods(kubectl, sts)
    for generation, value in enumerate(("two", "three", "four"), start=2):
        kubectl("set", "env", f"statefulset/{sts}", f"V={value}")
        wait_until(
            lambda: kubectl.json("statefulset", sts)["status"]["observedGeneration"] == generation,  # noqa: B023 (waited on within the iteration)
            timeout=30,
            what=f"generation {generation} seen",
        )
    status = kubectl.json("statefulset", sts)["status"]
    assert status["updateRevision"] != status["currentRevision"]
    assert _pods(kubectl, sts) == before  # nothing replaced by itself
    # history: revision 2 goes (limit 1); 1 is current (the pods' own), 4 the update
    revisions = _revisions(kubectl, sts)
    assert sorted(revisions.values()) == [1, 3, 4], revisions
    assert revisions[status["updateRevision"]] == 4
    kubectl("delete", "pod", f"{sts}-1")
    wait_until(
        lambda: (
            _pods(kubectl, sts).get(1, {})
            == _pods(kubectl, sts).get(1, {})
            | {"revision": status["updateRevision"], "ready": True}
        ),
        timeout=60,
        what="the deleted pod back at the update revision",
    )
    assert _env(kubectl, f"{sts}-1") == "four" and _env(kubectl, f"{sts}-0") == "one"
    assert _pods(kubectl, sts)[0] == before[0]


def test_parallel_does_not_wait_for_readiness(kubectl: Kubectl, sts: str) -> None:
    kubectl("apply", "-f", "-", stdin=manifest(sts, ready=False, podManagementPolicy="Parallel"))
    wait_until(lambda: sorted(_pods(kubectl, sts)) == [0, 1, 2], timeout=60, what="all three")
    assert not any(p["ready"] for p in _pods(kubectl, sts).values())
    wait_until(
        lambda: (
            kubectl("rollout", "status", f"statefulset/{sts}", "--watch=false").stdout
            == "Waiting for 3 pods to be ready...\n"
        ),
        timeout=30,
        what="rollout status waiting for the three",
    )


def test_ordered_waits_for_readiness(kubectl: Kubectl, sts: str) -> None:
    kubectl("apply", "-f", "-", stdin=manifest(sts, ready=False))
    wait_until(
        lambda: (
            kubectl("rollout", "status", f"statefulset/{sts}", "--watch=false").stdout
            == "Waiting for 3 pods to be ready...\n"
        ),
        timeout=60,
        what="the first pod, unready",
    )
    # the first pod is up (exec works) but not ready: the second is not made
    wait_until(
        lambda: kubectl("exec", f"{sts}-0", "--", "true", ok=False).returncode == 0,
        timeout=30,
        what="the first pod running",
    )
    assert sorted(_pods(kubectl, sts)) == [0]
    kubectl("exec", f"{sts}-0", "--", "touch", "/mnt/ok")
    wait_until(lambda: 1 in _pods(kubectl, sts), timeout=30, what="the second pod")
    assert sorted(_pods(kubectl, sts)) == [0, 1]
