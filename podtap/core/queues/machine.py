"""One workload's queue split as a pure state machine: events in, effects out.

The first session makes the fallback queues (one per original queue) and its temporary
ones; once the fallback queues exist the workload's env is patched to them and, when the
patched pods are ready, the forwarder starts routing the originals. Later sessions only add
their queues and routes. A session that leaves is unrouted first, then its queues are
drained back into their originals (where the forwarder routes their messages again) and
deleted. When the last one leaves (after ``ttl``, if a session may come back), the env is
restored, the forwarder stops once the restored pods are ready, and every queue the split
made is drained into its original and deleted only when a drain pass finds it empty: a
drain that takes longer than ``drainTimeout`` is reported, never cut short, so no message
is lost. Sessions that start during that teardown wait for it and then start a new split.

Ordering matters and is the point of this module: routes change before a queue is
drained, the fallback queues exist before the env names them, and they are drained only
after the forwarder stopped, so nothing is put into a queue after its last drain.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from enum import StrEnum

from podtap.core.ids import SessionId
from podtap.core.queues import steps as s
from podtap.core.queues.ledger import QueueLedger

__all__ = ["Limits", "Phase", "SplitMachine"]


class Phase(StrEnum):
    IDLE = "idle"
    CREATING = "creating"
    ROLLING_OUT = "rolling-out"
    ACTIVE = "active"
    LINGERING = "lingering"
    RESTORING = "restoring"
    STOPPING = "stopping"
    DRAINING = "draining"


TEARDOWN = (Phase.RESTORING, Phase.STOPPING, Phase.DRAINING)


@dataclass(frozen=True, slots=True, kw_only=True)
class Limits:
    """From the split config: ``restart`` timeout and waitForPods, drainTimeout, ttl."""

    restart_timeout: float = 180.0
    wait_for_pods: bool = True
    drain_timeout: float = 300.0
    ttl: float = 0.0


class SplitMachine:
    """The split of ``originals``; ``name(original, id)`` names a split queue (see
    :func:`podtap.core.queues.names.render_queue_name`)."""

    def __init__(
        self,
        *,
        originals: Sequence[str],
        name: Callable[[str, str], str],
        limits: Limits | None = None,
    ) -> None:
        self.queues = QueueLedger(originals=originals, name=name)
        self.originals = self.queues.originals
        self.limits = limits or Limits()
        self.phase = Phase.IDLE
        self.sessions: dict[SessionId, bool] = {}  # joined -> given its queues
        self.waiting: list[SessionId] = []
        self.patched = self.forwarding = self.overdue = False
        self.deadline: float | None = None

    def queues_of(self, owner: SessionId | None) -> dict[str, str]:
        """original -> the name of ``owner``'s queue (``None``: the workload's fallback)."""
        return self.queues.names(owner)

    # -- the machine -------------------------------------------------------------------

    def handle(self, event: s.Event) -> list[s.Effect]:
        match event:
            case s.SessionJoined(session, now):
                return self._joined(session, now)
            case s.SessionLeft(session, now):
                return self._left(session, now)
            case s.QueuesCreated(names, now):
                return self._created(names, now)
            case s.CreateFailed(names, reason, now):
                return self._create_failed(names, reason, now)
            case s.PodsReady(now):
                return self._pods_ready(now)
            case s.RolloutFailed(reason, now):
                return self._rollout_failed(reason, now)
            case s.WorkloadGone(now):
                return self._workload_gone(now)
            case s.ForwardingStopped(now):
                if self.phase is not Phase.STOPPING:
                    return []
                self.forwarding = False
                return self._start_drain(now)
            case s.Drained(queue, remaining):
                return self.queues.drained(queue, remaining)
            case s.QueuesDeleted(names):
                return self._deleted(names)
            case s.Tick(now):
                return self._tick(now)
        raise TypeError(f"not a split event: {event!r}")

    def _joined(self, session: SessionId, now: float) -> list[s.Effect]:
        if session in self.sessions or session in self.waiting:
            return []
        if self.phase in TEARDOWN or self.queues.live(session):
            self.waiting.append(session)  # after the teardown, or its old queues are gone
            return []
        out: list[s.Effect] = []
        if self.phase is Phase.IDLE:
            self.phase, self.overdue = Phase.CREATING, False
            out.append(self.queues.ask(None))
        elif self.phase is Phase.LINGERING:
            self.phase, self.deadline = Phase.ACTIVE, None
        self.sessions[session] = False
        return [*out, self.queues.ask(session)]

    def _left(self, session: SessionId, now: float) -> list[s.Effect]:
        if session in self.waiting:
            self.waiting.remove(session)
            return []
        if session not in self.sessions:
            return []
        given = self.sessions.pop(session)
        out: list[s.Effect] = [self._routes()] if given and self.forwarding else []
        out += self.queues.retire(self.queues.of(session))
        if self.sessions:
            return out
        if self.phase is Phase.ACTIVE and self.limits.ttl > 0:
            self.phase, self.deadline = Phase.LINGERING, now + self.limits.ttl
            return out
        return out + self._teardown(now)

    def _created(self, names: Sequence[str], now: float) -> list[s.Effect]:
        fresh = self.queues.created(names)
        out: list[s.Effect] = []
        if self.phase is Phase.DRAINING:
            out += self.queues.retire(fresh)
        elif self.phase not in TEARDOWN:  # a session that left before its queues were made
            gone = [n for n in fresh if self.queues.owner[n] not in (None, *self.sessions)]
            out += self.queues.retire(gone)
        if self.phase is Phase.CREATING and self.queues.ready(None):
            self.patched = True
            out.append(s.PatchEnv(self.queues_of(None)))
            if self.limits.wait_for_pods:
                self.phase, self.deadline = Phase.ROLLING_OUT, now + self.limits.restart_timeout
                return [*out, s.WaitForPods(self.limits.restart_timeout)]
            return out + self._activate(now)
        if self.phase is Phase.ACTIVE:
            out += self._give()
        return out

    def _create_failed(self, names: Sequence[str], reason: str, now: float) -> list[s.Effect]:
        owners = {self.queues.owner.get(n) for n in names if n in self.queues.asked}
        failed = self.queues.refused(names)
        if not failed:
            return []
        if self.phase is Phase.DRAINING:
            return self._maybe_idle()
        if None in owners:  # the fallback queues: no split for anyone
            return self._fail(tuple(self.sessions), f"creating {', '.join(failed)}: {reason}", now)
        victims = tuple(o for o in self.sessions if o in owners)
        why = f"creating {', '.join(failed)}: {reason}"
        out: list[s.Effect] = [s.FailSessions(victims, why)] if victims else []
        for victim in victims:
            out += self._left(victim, now)
        return out

    def _fail(self, victims: tuple[SessionId, ...], reason: str, now: float) -> list[s.Effect]:
        self.sessions.clear()
        out: list[s.Effect] = [s.FailSessions(victims, reason)] if victims else []
        return out + self._teardown(now)

    def _pods_ready(self, now: float) -> list[s.Effect]:
        if self.phase is Phase.ROLLING_OUT:
            return self._activate(now)
        if self.phase is Phase.RESTORING:
            return self._restored(now)
        return []

    def _rollout_failed(self, reason: str, now: float) -> list[s.Effect]:
        if self.phase is Phase.ROLLING_OUT:
            why = f"the workload's pods did not roll out on the fallback queues: {reason}"
            return self._fail(tuple(self.sessions), why, now)
        if self.phase is Phase.RESTORING:
            self.deadline = now + self.limits.restart_timeout
            note = s.Report(f"restoring the workload's queues did not roll out: {reason}; retrying")
            return [note, s.RestoreEnv(), s.WaitForPods(self.limits.restart_timeout)]
        return []

    def _workload_gone(self, now: float) -> list[s.Effect]:
        """Deleted under the split: nothing to restore or wait for (which would wait for
        ever); its sessions fail, the forwarders stop and the queues drain back."""
        self.patched = False
        if self.phase in (Phase.IDLE, Phase.STOPPING, Phase.DRAINING):
            return []
        victims = tuple(self.sessions)
        self.sessions.clear()
        out: list[s.Effect] = (
            [s.FailSessions(victims, "the workload was deleted")] if victims else []
        )
        return out + self._restored(now)

    def _tick(self, now: float) -> list[s.Effect]:
        if self.deadline is None or now < self.deadline:
            return []
        if self.phase in (Phase.ROLLING_OUT, Phase.RESTORING):
            timeout = self.limits.restart_timeout
            return self._rollout_failed(f"pods not ready within {timeout:g} s", now)
        if self.phase is Phase.LINGERING:
            return self._teardown(now)
        if self.phase is Phase.DRAINING and not self.overdue:
            self.overdue = True
            left = ", ".join(self.queues.pending())
            return [
                s.Report(
                    f"draining {left} takes longer than drainTimeout "
                    f"{self.limits.drain_timeout:g} s; they are deleted only once empty"
                )
            ]
        return []

    # -- steps --------------------------------------------------------------------------

    def _routes(self) -> s.SetRoutes:
        return s.SetRoutes(tuple(x for x, given in self.sessions.items() if given))

    def _give(self) -> list[s.Effect]:
        out: list[s.Effect] = []
        for session, given in self.sessions.items():
            if not given and self.queues.ready(session):
                self.sessions[session] = True
                out.append(s.GiveQueues(session, self.queues_of(session)))
        return [*out, self._routes()] if out else out

    def _activate(self, now: float) -> list[s.Effect]:
        self.phase, self.deadline, self.forwarding = Phase.ACTIVE, None, True
        if not self.sessions:
            return self._teardown(now)
        return self._give() or [self._routes()]

    def _teardown(self, now: float) -> list[s.Effect]:
        if not self.patched:
            return self._start_drain(now)
        self.phase, self.deadline = Phase.RESTORING, now + self.limits.restart_timeout
        if self.limits.wait_for_pods:
            return [s.RestoreEnv(), s.WaitForPods(self.limits.restart_timeout)]
        return [s.RestoreEnv(), *self._restored(now)]

    def _restored(self, now: float) -> list[s.Effect]:
        self.patched = False
        if self.forwarding:
            self.phase, self.deadline = Phase.STOPPING, None
            return [s.StopForwarding()]
        return self._start_drain(now)

    def _start_drain(self, now: float) -> list[s.Effect]:
        self.phase, self.deadline = Phase.DRAINING, now + self.limits.drain_timeout
        return self.queues.retire(self.queues.owned) + self._maybe_idle()

    def _deleted(self, names: Sequence[str]) -> list[s.Effect]:
        self.queues.deleted(names)
        if self.phase is Phase.DRAINING:
            return self._maybe_idle()
        return self._rejoin()

    def _rejoin(self) -> list[s.Effect]:
        """Sessions that waited for their old queues to go, or for the last teardown."""
        waiting, self.waiting = self.waiting, []
        out: list[s.Effect] = []
        for session in waiting:
            out += self._joined(session, 0.0)
        return out

    def _maybe_idle(self) -> list[s.Effect]:
        if self.phase is not Phase.DRAINING or not self.queues.empty:
            return []
        self.phase, self.deadline = Phase.IDLE, None
        return self._rejoin()
