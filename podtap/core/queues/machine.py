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

from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from enum import StrEnum

from podtap.core.ids import SessionId, format_session_id
from podtap.core.queues import steps as s
from podtap.core.queues.names import FALLBACK_ID

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
        self.originals = tuple(originals)
        self._name = name
        self.limits = limits or Limits()
        self.phase = Phase.IDLE
        self.sessions: dict[SessionId, bool] = {}  # joined -> given its queues
        self.waiting: list[SessionId] = []
        self.origin: dict[str, str] = {}  # every queue asked for -> its original
        self.owner: dict[str, SessionId | None] = {}  # None: the workload's fallback
        self.asked: set[str] = set()
        self.owned: set[str] = set()
        self.draining: set[str] = set()
        self.deleting: set[str] = set()
        self.patched = self.forwarding = self.overdue = False
        self.deadline: float | None = None

    # -- names ------------------------------------------------------------------------

    def queues_of(self, owner: SessionId | None) -> dict[str, str]:
        label = FALLBACK_ID if owner is None else format_session_id(owner)
        return {orig: self._name(orig, label) for orig in self.originals}

    def _ask(self, owner: SessionId | None) -> s.CreateQueues:
        names = self.queues_of(owner)
        for orig, name in names.items():
            self.origin[name], self.owner[name] = orig, owner
            self.asked.add(name)
        return s.CreateQueues(tuple(names.values()))

    def _orphan(self, name: str) -> bool:
        """A session's queue whose session left before it was made."""
        owner = self.owner[name]
        return owner is not None and owner not in self.sessions

    def _ready(self, session: SessionId) -> bool:
        return all(n in self.owned for n in self.queues_of(session).values())

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
            case s.ForwardingStopped(now):
                if self.phase is not Phase.STOPPING:
                    return []
                self.forwarding = False
                return self._start_drain(now)
            case s.Drained(queue, remaining):
                return self._drained(queue, remaining)
            case s.QueuesDeleted(names):
                return self._deleted(names)
            case s.Tick(now):
                return self._tick(now)
        raise TypeError(f"not a split event: {event!r}")

    def _joined(self, session: SessionId, now: float) -> list[s.Effect]:
        if session in self.sessions or session in self.waiting:
            return []
        if self.phase in TEARDOWN or any(
            n in self.origin for n in self.queues_of(session).values()
        ):
            self.waiting.append(session)  # after the teardown, or its old queues are gone
            return []
        out: list[s.Effect] = []
        if self.phase is Phase.IDLE:
            self.phase, self.overdue = Phase.CREATING, False
            out.append(self._ask(None))
        elif self.phase is Phase.LINGERING:
            self.phase, self.deadline = Phase.ACTIVE, None
        self.sessions[session] = False
        return [*out, self._ask(session)]

    def _left(self, session: SessionId, now: float) -> list[s.Effect]:
        if session in self.waiting:
            self.waiting.remove(session)
            return []
        if session not in self.sessions:
            return []
        given = self.sessions.pop(session)
        out: list[s.Effect] = [self._routes()] if given and self.forwarding else []
        out += self._retire(n for n, o in self.owner.items() if o == session)
        if self.sessions:
            return out
        if self.phase is Phase.ACTIVE and self.limits.ttl > 0:
            self.phase, self.deadline = Phase.LINGERING, now + self.limits.ttl
            return out
        return out + self._teardown(now)

    def _created(self, names: Sequence[str], now: float) -> list[s.Effect]:
        fresh = [n for n in names if n in self.asked]
        self.asked.difference_update(fresh)
        self.owned.update(fresh)
        out: list[s.Effect] = []
        if self.phase is Phase.DRAINING:
            out += self._retire(fresh)
        elif self.phase not in TEARDOWN:
            out += self._retire(n for n in fresh if self._orphan(n))
        fallback = self.queues_of(None)
        if self.phase is Phase.CREATING and all(n in self.owned for n in fallback.values()):
            self.patched = True
            out.append(s.PatchEnv(fallback))
            if self.limits.wait_for_pods:
                self.phase, self.deadline = Phase.ROLLING_OUT, now + self.limits.restart_timeout
                return [*out, s.WaitForPods(self.limits.restart_timeout)]
            return out + self._activate(now)
        if self.phase is Phase.ACTIVE:
            out += self._give()
        return out

    def _create_failed(self, names: Sequence[str], reason: str, now: float) -> list[s.Effect]:
        failed = [n for n in names if n in self.asked]
        self.asked.difference_update(failed)
        if not failed:
            return []
        if self.phase is Phase.DRAINING:
            return self._maybe_idle()
        owners = {self.owner[n] for n in failed}
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
            left = ", ".join(sorted(self.draining | self.asked)) or "nothing"
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
            if not given and self._ready(session):
                self.sessions[session] = True
                out.append(s.GiveQueues(session, self.queues_of(session)))
        return [*out, self._routes()] if out else out

    def _activate(self, now: float) -> list[s.Effect]:
        self.phase, self.deadline, self.forwarding = Phase.ACTIVE, None, True
        if not self.sessions:
            return self._teardown(now)
        return self._give() or [self._routes()]

    def _retire(self, names: Iterable[str]) -> list[s.Effect]:
        out: list[s.Effect] = []
        for name in sorted(names):
            if name in self.owned and name not in self.draining | self.deleting:
                self.draining.add(name)
                out.append(s.Drain(name, self.origin[name]))
        return out

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
        return self._retire(self.owned) + self._maybe_idle()

    def _drained(self, queue: str, remaining: int) -> list[s.Effect]:
        if queue not in self.draining:
            return []
        if remaining > 0:
            return [s.Drain(queue, self.origin[queue])]
        self.draining.discard(queue)
        self.deleting.add(queue)
        return [s.DeleteQueues((queue,))]

    def _deleted(self, names: Sequence[str]) -> list[s.Effect]:
        for name in names:
            if name in self.deleting:
                self.deleting.discard(name)
                self.owned.discard(name)
                self.origin.pop(name, None)
                self.owner.pop(name, None)
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
        if self.phase is not Phase.DRAINING or self.owned or self.asked:
            return []
        self.phase, self.deadline = Phase.IDLE, None
        return self._rejoin()
