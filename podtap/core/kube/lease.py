"""Leader election on a `coordination.k8s.io/v1` Lease: the decisions, as client-go's
`leaderelection` makes them, with no I/O (the operator's shell reads and writes the Lease).

Each retry the shell reads the Lease and asks :meth:`LeaderElector.decide`; it carries out the
action and reports the answer (:meth:`~LeaderElector.written` or :meth:`~LeaderElector.failed`).

- **Safety is the API server's**: every write but the first is a PUT carrying the
  `resourceVersion` that was read, so of two candidates that both saw the same expired lease
  only one succeeds; the other gets 409 Conflict and stays a follower (a first create that
  loses gets 409 AlreadyExists). A leader that cannot renew for `renew_deadline` stops leading,
  well before the others may take over (`lease_duration` after they last saw a change).
- **Clocks are never compared across nodes.** A lease is expired when it has not *changed*
  for `leaseDurationSeconds` by this process's clock, counted from when this process observed
  the change, not from the `renewTime` another node wrote (client-go's `observedTime`). So a
  new candidate waits a whole lease duration before taking over a lease it has just seen.
- **Release** (client-go's `ReleaseOnCancel`): a leader that shuts down writes the lease with
  no holder and a 1 s duration, so a follower takes over at its next retry.

Times are seconds since the epoch by this process's clock (written as MicroTime by
:func:`lease_spec`); only differences measured by this one process decide anything.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from typing import Any, TypeAlias

JITTER_FACTOR = 1.2
"""client-go's: a follower's retry waits `retry_period` times up to 1 + this (the shell's)."""


@dataclass(frozen=True, slots=True, kw_only=True)
class LeaseRecord:
    """The spec of a Lease as leader election reads and writes it."""

    holder: str
    """`holderIdentity`; empty when released."""
    duration: int
    """`leaseDurationSeconds`."""
    acquired: float
    """`acquireTime`."""
    renewed: float
    """`renewTime`."""
    transitions: int = 0
    """`leaseTransitions`: how many times the lease changed hands."""


@dataclass(frozen=True, slots=True, kw_only=True)
class Observed:
    """A Lease as read from (or answered by) the API server."""

    record: LeaseRecord
    resource_version: str


@dataclass(frozen=True, slots=True, kw_only=True)
class Create:
    """No Lease yet: POST one holding it (409 AlreadyExists if another was first)."""

    record: LeaseRecord


@dataclass(frozen=True, slots=True, kw_only=True)
class Put:
    """PUT the Lease as `record`, only if it is still at `resource_version` (else 409)."""

    record: LeaseRecord
    resource_version: str


class Acquire(Put):
    """The lease is free or expired: take it (`leaseTransitions` + 1)."""

    __slots__ = ()


class Renew(Put):
    """I hold it: write a fresh `renewTime`."""

    __slots__ = ()


class Release(Put):
    """Shutting down as leader: write it with no holder."""

    __slots__ = ()


@dataclass(frozen=True, slots=True, kw_only=True)
class Wait:
    """Nothing to write: read the lease again at `until`."""

    until: float


@dataclass(frozen=True, slots=True, kw_only=True)
class Lost:
    """I was leading and no longer am (not renewed within the deadline, or taken over)."""

    reason: str


Action: TypeAlias = Create | Acquire | Renew | Wait | Lost


class LeaderElector:
    """One candidate's view of one Lease (client-go's LeaderElector, minus the loop)."""

    def __init__(
        self, *, identity: str, lease_duration: int, renew_deadline: float, retry_period: float
    ) -> None:
        if not identity:
            raise ValueError("leader election needs a non-empty identity (the pod's name)")
        if lease_duration <= renew_deadline:
            raise ValueError(
                f"lease duration ({lease_duration} s) must be greater than the renew deadline "
                f"({renew_deadline} s)"
            )
        if renew_deadline <= JITTER_FACTOR * retry_period or retry_period <= 0:
            raise ValueError(
                f"renew deadline ({renew_deadline} s) must be greater than {JITTER_FACTOR} x the "
                f"retry period ({retry_period} s), which must be positive"
            )
        self.identity = identity
        self.lease_duration = lease_duration
        self.renew_deadline = renew_deadline
        self.retry_period = retry_period
        self.observed: Observed | None = None
        self.observed_at = 0.0
        self.leading = False
        self._renewed_at = 0.0

    def _observe(self, observed: Observed, now: float) -> None:
        if self.observed is None or observed.record != self.observed.record:
            self.observed_at = now
        self.observed = observed

    def _stop(self, reason: str) -> Lost:
        self.leading = False
        return Lost(reason=reason)

    def decide(self, observed: Observed | None, *, now: float) -> Action:
        """What to do, given the Lease just read (None: there is none)."""
        if self.leading and now >= self._renewed_at + self.renew_deadline:
            return self._stop(f"not renewed within the renew deadline ({self.renew_deadline} s)")
        mine = LeaseRecord(
            holder=self.identity, duration=self.lease_duration, acquired=now, renewed=now
        )
        if observed is None:
            return Create(record=mine)
        self._observe(observed, now)
        old = observed.record
        rv = observed.resource_version
        if old.holder == self.identity:
            renewed = replace(old, duration=self.lease_duration, renewed=now)
            return Renew(record=renewed, resource_version=rv)
        if self.leading:
            return self._stop(f"the lease is held by {old.holder or 'no one'} now")
        if old.holder and now < self.observed_at + old.duration:
            return Wait(until=now + self.retry_period)
        return Acquire(record=replace(mine, transitions=old.transitions + 1), resource_version=rv)

    def written(self, answer: Observed, *, now: float) -> Wait:
        """The API server accepted my create or update and answered with this Lease; returns
        when to read it again."""
        self._observe(answer, now)
        self.leading = answer.record.holder == self.identity
        if self.leading:
            self._renewed_at = now
        return Wait(until=now + self.retry_period)

    def failed(self, *, now: float) -> Wait | Lost:
        """My read or write failed (409 Conflict / AlreadyExists: another wrote first)."""
        if self.leading and now >= self._renewed_at + self.renew_deadline:
            return self._stop(f"not renewed within the renew deadline ({self.renew_deadline} s)")
        return Wait(until=now + self.retry_period)

    def release(self, *, now: float) -> Release | None:
        """The write that gives the lease up on shutdown, if I hold it (else nothing)."""
        if not self.leading or self.observed is None:
            return None
        self.leading = False
        old = self.observed.record
        record = LeaseRecord(
            holder="", duration=1, acquired=now, renewed=now, transitions=old.transitions
        )
        return Release(record=record, resource_version=self.observed.resource_version)


def _micro_time(t: float) -> str:
    return datetime.fromtimestamp(t, UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def _seconds(text: object) -> float:
    if not isinstance(text, str) or not text:
        return 0.0
    return datetime.fromisoformat(text.replace("Z", "+00:00")).timestamp()


def lease_spec(record: LeaseRecord) -> dict[str, Any]:
    """The Lease `spec` that writes `record` (holderIdentity omitted when released)."""
    spec: dict[str, Any] = {
        "leaseDurationSeconds": record.duration,
        "acquireTime": _micro_time(record.acquired),
        "renewTime": _micro_time(record.renewed),
        "leaseTransitions": record.transitions,
    }
    if record.holder:
        spec["holderIdentity"] = record.holder
    return spec


def parse_lease(lease: Mapping[str, Any]) -> Observed:
    """A `coordination.k8s.io/v1` Lease object as leader election sees it."""
    spec = lease.get("spec") or {}
    record = LeaseRecord(
        holder=spec.get("holderIdentity") or "",
        duration=int(spec.get("leaseDurationSeconds") or 0),
        acquired=_seconds(spec.get("acquireTime")),
        renewed=_seconds(spec.get("renewTime")),
        transitions=int(spec.get("leaseTransitions") or 0),
    )
    return Observed(record=record, resource_version=str(lease["metadata"]["resourceVersion"]))
