"""A Job's next step, decided (pure): its pods' outcomes in, pods to start and status out.

As the job controller does it: up to `parallelism` pods run at once until `completions`
(1 by default) of them have succeeded — then the Job is `Complete` — or more than
`backoffLimit` (6) have failed — then it is `Failed` and its running pods are stopped.
Finished pods stay (their logs and exit codes are the Job's record).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

Obj = dict[str, Any]


@dataclass(frozen=True, slots=True)
class JobPod:
    name: str
    phase: str  # Pending | Running | Succeeded | Failed
    ready: bool


@dataclass(frozen=True, slots=True)
class Step:
    start: int
    stop: list[str]
    status: Obj


def _condition(kind: str, reason: str, message: str, now: str) -> Obj:
    return {
        "type": kind,
        "status": "True",
        "reason": reason,
        "message": message,
        "lastProbeTime": now,
        "lastTransitionTime": now,
    }


def _finished(old: Obj) -> bool:
    return any(
        c.get("type") in ("Complete", "Failed") and c.get("status") == "True"
        for c in old.get("conditions") or []
    )


def decide(spec: Obj, pods: Sequence[JobPod], *, old: Obj, now: str) -> Step:
    """What to do with one Job this pass."""
    completions = spec.get("completions")
    target = 1 if completions is None else int(completions)
    parallelism = int(spec.get("parallelism", 1))
    limit = int(spec.get("backoffLimit", 6))
    active = [p for p in pods if p.phase in ("Pending", "Running")]
    succeeded = sum(p.phase == "Succeeded" for p in pods)
    failed = sum(p.phase == "Failed" for p in pods)
    status: Obj = {"startTime": old.get("startTime", now)}
    conditions = list(old.get("conditions") or [])
    start, stop = 0, []
    if _finished(old):
        stop = [p.name for p in active]
    elif failed > limit:
        stop = [p.name for p in active]
        msg = "Job has reached the specified backoff limit"
        conditions += [
            _condition("FailureTarget", "BackoffLimitExceeded", msg, now),
            _condition("Failed", "BackoffLimitExceeded", msg, now),
        ]
    elif succeeded >= target:
        stop = [p.name for p in active]
        msg = "Reached expected number of succeeded pods"
        conditions += [
            _condition("SuccessCriteriaMet", "CompletionsReached", msg, now),
            _condition("Complete", "CompletionsReached", msg, now),
        ]
        status["completionTime"] = now
    elif not spec.get("suspend"):
        want = min(parallelism, target - succeeded)
        start = max(0, want - len(active))
        stop = [p.name for p in active[want:]]
    if "completionTime" in old:
        status["completionTime"] = old["completionTime"]
    running = len(active) - len(stop) + start
    status.update(
        {k: v for k, v in (("active", running), ("succeeded", succeeded), ("failed", failed)) if v}
    )
    status["ready"] = sum(p.ready for p in active if p.name not in stop)
    status["terminating"] = 0
    status["uncountedTerminatedPods"] = {}
    if conditions:
        status["conditions"] = conditions
    return Step(start, stop, status)
