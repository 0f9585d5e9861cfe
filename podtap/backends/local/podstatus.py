"""The status the node reports, as a kubelet and the workload controllers write it (pure).

`kubectl get pods` reads phase, `Ready` and restarts; `kubectl wait --for=condition=Ready`
reads `status.conditions`; `kubectl rollout status` compares a Deployment's
`observedGeneration`, `updatedReplicas` and `availableReplicas` with its spec. Each function
takes what the node knows and the status stored before, and keeps a condition's
`lastTransitionTime` while its status stays the same — so a status that did not change is
equal to the stored one and is not written again (no resourceVersion churn for watchers).
"""

from __future__ import annotations

import datetime
from dataclasses import dataclass
from typing import Any

Obj = dict[str, Any]


def iso(ts: float) -> str:
    return datetime.datetime.fromtimestamp(ts, datetime.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


@dataclass(frozen=True)
class Terminated:
    """How a container's previous run ended (`lastState.terminated`)."""

    exit_code: int
    reason: str
    started_at: float
    finished_at: float


@dataclass(frozen=True)
class ContainerView:
    """One container as the runtime sees it (`ContainerRunner.status` and its pid), and
    what its probes say: ready (readiness), started (startup), how its last run ended."""

    name: str
    image: str
    state: str  # Waiting | Running | Terminated | Unstarted
    reason: str
    restarts: int
    exit_code: int | None
    started_at: float | None
    pid: int | None
    ready: bool = True
    started: bool = True
    last: Terminated | None = None


def exit_code(code: int) -> int:
    """A process's exit status as the runtime reports it: 128 + N when killed by signal N."""
    return 128 - code if code < 0 else code


@dataclass(frozen=True)
class PodView:
    phase: str
    ready: bool
    message: str
    ip: str
    host_ip: str
    created: float
    containers: tuple[ContainerView, ...]
    ephemeral: tuple[ContainerView, ...] = ()


def timed_conditions(old: list[Obj], wanted: list[tuple[str, bool, str]], now: str) -> list[Obj]:
    """Conditions (type, status, reason) with the old transition time where unchanged."""
    before = {c.get("type"): c for c in old}
    out = []
    for kind, ok, reason in wanted:
        status = "True" if ok else "False"
        prev = before.get(kind) or {}
        cond: Obj = {"type": kind, "status": status}
        if reason:
            cond["reason"] = reason
        same = prev.get("status") == status
        cond["lastTransitionTime"] = prev.get("lastTransitionTime", now) if same else now
        out.append(cond)
    return out


def _state(c: ContainerView, message: str) -> Obj:
    if c.state == "Running" and c.started_at is not None:
        return {"running": {"startedAt": iso(c.started_at)}}
    if c.state == "Terminated" and c.reason != "CrashLoopBackOff":
        done: Obj = {"exitCode": exit_code(c.exit_code) if c.exit_code is not None else 0}
        done["reason"] = c.reason or ("Completed" if done["exitCode"] == 0 else "Error")
        return {"terminated": done}
    waiting: Obj = {"reason": c.reason or "ContainerCreating"}
    if message:
        waiting.update(reason="CreateContainerError", message=message)
    return {"waiting": waiting}


def container_status(c: ContainerView, *, pod_ready: bool, message: str) -> Obj:
    out: Obj = {
        "name": c.name,
        "image": c.image,
        "imageID": "",
        "ready": c.state == "Running" and c.ready and pod_ready,
        "restartCount": c.restarts,
        "started": c.state == "Running" and c.started,
        "state": _state(c, message),
    }
    if c.last is not None:
        last = c.last
        out["lastState"] = {
            "terminated": {
                "exitCode": last.exit_code,
                "reason": last.reason,
                "startedAt": iso(last.started_at),
                "finishedAt": iso(last.finished_at),
            }
        }
    if c.pid is not None:
        out["containerID"] = f"podtap://{c.pid}"
    return out


def pod_status(pod: PodView, old: Obj, *, now: str) -> Obj:
    """The Pod's `status` from what its runtime shows."""
    started = pod.phase != "Pending"
    not_ready = (
        ""
        if pod.ready
        else ("PodCompleted" if pod.phase in ("Succeeded", "Failed") else "ContainersNotReady")
    )
    conditions = timed_conditions(
        old.get("conditions") or [],
        [
            ("PodReadyToStartContainers", started, ""),
            ("Initialized", True, ""),
            ("Ready", pod.ready, not_ready),
            ("ContainersReady", pod.ready, not_ready),
            ("PodScheduled", True, ""),
        ],
        now,
    )
    status: Obj = {
        "phase": pod.phase,
        "conditions": conditions,
        "hostIP": pod.host_ip,
        "hostIPs": [{"ip": pod.host_ip}],
        "podIP": pod.ip,
        "podIPs": [{"ip": pod.ip}],
        "startTime": iso(pod.created),
        "containerStatuses": [
            container_status(c, pod_ready=pod.ready, message=pod.message) for c in pod.containers
        ],
        "qosClass": "BestEffort",
    }
    if pod.ephemeral:  # never ready: they are not part of the pod's readiness
        status["ephemeralContainerStatuses"] = [
            container_status(c, pod_ready=False, message="") for c in pod.ephemeral
        ]
    if pod.message:
        status["message"] = pod.message
    return status


def unrunnable_status(old: Obj, *, why: str, now: str) -> Obj:
    """A pod the local models cannot run: Pending, unschedulable, with the reason."""
    conditions = timed_conditions(
        old.get("conditions") or [], [("PodScheduled", False, "Unschedulable")], now
    )
    conditions[0]["message"] = f"the local cluster cannot run this pod: {why}"
    return {"phase": "Pending", "conditions": conditions, "qosClass": "BestEffort"}


@dataclass(frozen=True)
class ReplicaCounts:
    """A workload's pods: all of them, those of the current template, the ready ones."""

    replicas: int
    updated: int
    ready: int
    updated_ready: int


def _nonzero(**counts: int) -> Obj:
    return {k: v for k, v in counts.items() if v}


def deployment_status(obj: Obj, counts: ReplicaCounts, *, revision: str, old: Obj, now: str) -> Obj:
    """A Deployment's status as the deployment controller reports it (`revision`: the name
    of the current template's pod set, `NAME-HASH`)."""
    desired = int((obj.get("spec") or {}).get("replicas", 1))
    available = counts.ready
    done = counts.updated == desired == counts.replicas and counts.updated_ready == desired
    floor = desired - desired // 4  # maxUnavailable 25 %, rounded down as Kubernetes does
    conditions = timed_conditions(
        old.get("conditions") or [],
        [
            (
                "Available",
                available >= floor,
                "MinimumReplicasAvailable" if available >= floor else "MinimumReplicasUnavailable",
            ),
            ("Progressing", True, "NewReplicaSetAvailable" if done else "ReplicaSetUpdated"),
        ],
        now,
    )
    conditions[0]["message"] = (
        "Deployment has minimum availability."
        if available >= floor
        else "Deployment does not have minimum availability."
    )
    conditions[1]["message"] = (
        f'ReplicaSet "{revision}" has successfully progressed.'
        if done
        else f'ReplicaSet "{revision}" is progressing.'
    )
    for cond in conditions:
        prev: Obj = next(
            (c for c in old.get("conditions") or [] if c.get("type") == cond["type"]), {}
        )
        same = prev.get("reason") == cond.get("reason") and prev.get("status") == cond["status"]
        cond["lastUpdateTime"] = prev.get("lastUpdateTime", now) if same else now
    return {
        "observedGeneration": int(obj["metadata"].get("generation", 1)),
        **_nonzero(
            replicas=counts.replicas,
            updatedReplicas=counts.updated,
            readyReplicas=counts.ready,
            availableReplicas=available,
            unavailableReplicas=max(counts.replicas - available, 0),
        ),
        "conditions": conditions,
    }


def statefulset_status(obj: Obj, counts: ReplicaCounts, *, revision: str, old: Obj) -> Obj:
    """A StatefulSet's status; `currentRevision` catches up once every pod is updated."""
    desired = int((obj.get("spec") or {}).get("replicas", 1))
    current = (
        revision
        if counts.updated == counts.replicas == desired
        else old.get("currentRevision", revision)
    )
    return {
        "observedGeneration": int(obj["metadata"].get("generation", 1)),
        "replicas": counts.replicas,
        **_nonzero(
            readyReplicas=counts.ready,
            currentReplicas=counts.updated if current == revision else 0,
            updatedReplicas=counts.updated,
            availableReplicas=counts.ready,
        ),
        "currentRevision": current,
        "updateRevision": revision,
        "collisionCount": 0,
    }


def replicaset_status(obj: Obj, counts: ReplicaCounts) -> Obj:
    """A ReplicaSet's status: its pods, the ready (and so available) ones."""
    return {
        "observedGeneration": int(obj["metadata"].get("generation", 1)),
        "replicas": counts.replicas,
        "fullyLabeledReplicas": counts.replicas,
        **_nonzero(readyReplicas=counts.ready, availableReplicas=counts.ready),
    }


def daemonset_status(obj: Obj, counts: ReplicaCounts) -> Obj:
    """A DaemonSet's status on the one node."""
    return {
        "observedGeneration": int(obj["metadata"].get("generation", 1)),
        "desiredNumberScheduled": 1,
        "currentNumberScheduled": min(counts.replicas, 1),
        "numberMisscheduled": 0,
        "numberReady": counts.ready,
        **_nonzero(
            numberAvailable=counts.ready,
            numberUnavailable=max(1 - counts.ready, 0),
            updatedNumberScheduled=counts.updated,
        ),
    }
