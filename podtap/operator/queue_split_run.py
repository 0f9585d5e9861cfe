"""One workload's queue split carried out: a :class:`~podtap.core.queues.SplitMachine` fed
with what the brokers and the cluster report, its effects done in order.

One task reads the split's events (sessions joining and leaving, queues made, pods ready,
drain passes, ticks) and hands each to the machine; an effect that is quick (patching the
env, routing, giving a session its queues) is done before the next event, one that waits
(creating, draining, deleting queues, stopping the forwarders, waiting for the pods) runs
as its own task and reports back as an event. So the machine's ordering holds (the env
names the fallback queues only once they exist, a session is unrouted before its queue is
drained) while a long drain never holds up a join.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable, Mapping, Sequence
from typing import Any

from podtap.backends.brokers.base import BrokerError
from podtap.core.config.queues import QueueSplitConfig
from podtap.core.ids import SessionId, format_session_id
from podtap.core.queues import Phase, QueueFilter, SplitMachine, SplitPlan
from podtap.core.queues import steps as s
from podtap.net.tasks import TaskSet
from podtap.operator.queue_split_brokers import ClientFactory, SplitBrokers
from podtap.operator.queue_split_workload import Workload, WorkloadError, WorkloadGone

__all__ = ["SplitFailed", "WorkloadSplit"]

log = logging.getLogger(__name__)
Audit = Callable[..., None]


class SplitFailed(RuntimeError):
    """The split could not start for a session; one line saying why."""


class WorkloadSplit:
    def __init__(
        self,
        plan: SplitPlan,
        workload: Workload,
        *,
        clients: ClientFactory | None = None,
        audit: Audit = lambda kind, **fields: None,
        on_fail: Callable[[SessionId, str], None] = lambda session, why: None,
        drain_pass: float = 5.0,
        tick: float = 0.5,
    ) -> None:
        self.plan, self.workload = plan, workload
        self.machine = SplitMachine(originals=plan.originals, name=plan.name, limits=plan.limits)
        self.brokers = (
            SplitBrokers(plan) if clients is None else SplitBrokers(plan, clients=clients)
        )
        self.filters: dict[SessionId, dict[str, QueueFilter]] = {}
        self.env: dict[SessionId, dict[str, dict[str, str]]] = {}  # what each session is given
        self.asked: dict[SessionId, tuple[QueueSplitConfig, ...]] = {}  # its split_queues
        self.pods = {"patched": 0, "ready": 0}  # the workload's, on the fallback queues
        self._audit, self._on_fail, self._drain_pass, self._tick = audit, on_fail, drain_pass, tick
        self._joining: dict[SessionId, asyncio.Future[None]] = {}
        self._events: asyncio.Queue[s.Event] = asyncio.Queue()
        self._tasks = TaskSet()
        self._waiter: asyncio.Task[None] | None = None
        self.idle = asyncio.Event()
        self.idle.set()

    @property
    def label(self) -> str:
        return f"{self.workload.namespace}/{self.workload.label}"

    def start(self) -> None:
        self._tasks.spawn(self._run(), name=f"split {self.label}")
        self._tasks.spawn(self._ticks(), name=f"split {self.label} ticks")

    async def close(self) -> None:
        await self._tasks.close()
        await self.brokers.close()

    # -- sessions ------------------------------------------------------------------------
    async def join(
        self,
        session: SessionId,
        filters: dict[str, QueueFilter],
        *,
        asked: Sequence[QueueSplitConfig] = (),
    ) -> None:
        """Once ``session`` has its queues; SplitFailed (one line) if the split cannot start
        (``asked``: the entries its filters were compiled from, for the status)."""
        if session in self.env:
            return  # a resume: its queues are still there
        joining = self._joining.get(session)
        if joining is None:
            joining = self._joining[session] = asyncio.get_running_loop().create_future()
            self.filters[session] = filters
            self.asked[session] = tuple(asked)
            self.idle.clear()
            self.post(s.SessionJoined(session, time.monotonic()))
        await asyncio.shield(joining)

    def leave(self, session: SessionId) -> None:
        joining = self._joining.pop(session, None)
        if joining is not None and not joining.done():
            joining.cancel()  # its connect went away before its queues were made
        self.env.pop(session, None)
        self.filters.pop(session, None)
        self.asked.pop(session, None)
        self.post(s.SessionLeft(session, time.monotonic()))

    def post(self, event: s.Event) -> None:
        self._events.put_nowait(event)

    # -- the loop ------------------------------------------------------------------------
    async def _ticks(self) -> None:
        while True:
            await asyncio.sleep(self._tick)  # the machine's clock: deadlines, ttl
            self.post(s.Tick(time.monotonic()))

    async def _run(self) -> None:
        while True:
            event = await self._events.get()
            before = self.machine.phase
            for effect in self.machine.handle(event):
                try:
                    await self._do(effect)
                except Exception:  # one effect's bug must not stop the split's loop
                    log.exception("split %s: %s failed", self.label, type(effect).__name__)
            await self._phase_changed(before, self.machine.phase)

    async def _phase_changed(self, before: Phase, now: Phase) -> None:
        if before is now:
            return
        if now is Phase.ACTIVE and before is not Phase.LINGERING:
            self._audit("split_ready", workload=self.label, queues=self.machine.queues_of(None))
        elif now is Phase.IDLE:
            await self._record(clear=True)  # over: nothing for a next operator to finish
            self._audit("split_end", workload=self.label, delivery=self.brokers.delivery())
            if not self.machine.sessions and not self.machine.waiting:
                self.idle.set()

    def _spawn(self, what: str, coro: Any) -> None:
        self._tasks.spawn(coro, name=f"split {self.label}: {what}")

    async def _do(self, effect: s.Effect) -> None:
        match effect:
            case s.CreateQueues(names):
                self._spawn("create", self._create(names))
            case s.PatchEnv(to):
                self._audit("split_start", workload=self.label, fallback=dict(to))
                await self._record(restore=self.plan.original_env())  # before it changes
                if await self._set_env(self.plan.env(to)):
                    self.pods = {"patched": await self._replicas(), "ready": 0}
            case s.RestoreEnv():
                await self._set_env(self.plan.original_env())
                self.pods = {"patched": 0, "ready": 0}
            case s.WaitForPods(timeout):
                if self._waiter is not None:
                    self._waiter.cancel()  # its pods no longer count
                self._waiter = self._tasks.spawn(self._wait(timeout), name=f"split {self.label}")
            case s.SetRoutes(sessions):
                self._route(sessions)
            case s.StopForwarding():
                self._spawn("stop", self._stop())
            case s.GiveQueues(session, queues):
                self.env[session] = self.plan.env(queues)
                self._settle(session, None)
            case s.Drain(source, into):
                self._spawn(f"drain {source}", self._drain(source, into))
            case s.DeleteQueues(names):
                self._spawn("delete", self._delete(names))
            case s.FailSessions(sessions, reason):
                for session in sessions:
                    self._fail(session, reason)
            case s.Report(message):
                log.warning("split %s: %s", self.label, message)
                self._audit("split_report", workload=self.label, message=message)

    def _settle(self, session: SessionId, why: str | None) -> None:
        joining = self._joining.pop(session, None)
        if joining is not None and not joining.done():
            if why is None:
                joining.set_result(None)
            else:
                joining.set_exception(SplitFailed(why))

    def _fail(self, session: SessionId, why: str) -> None:
        self._audit("split_failed", workload=self.label, session=format_session_id(session),
                    reason=why)  # fmt: skip
        self.filters.pop(session, None)
        self.asked.pop(session, None)
        if session in self.env:  # running on its queues: it cannot go on without them
            del self.env[session]
            self._on_fail(session, f"queue split of {self.workload.label} failed: {why}")
        self._settle(session, why)

    def _route(self, sessions: Sequence[SessionId]) -> None:
        m = self.machine
        self.brokers.route(
            fallback=m.queues_of(None),
            queues={x: m.queues_of(x) for x in sessions},
            filters={x: self.filters[x] for x in sessions if x in self.filters},
        )

    # -- what waits ----------------------------------------------------------------------
    async def _set_env(self, change: Mapping[str, Mapping[str, str | None]]) -> bool:
        try:
            await self.workload.set_env(change)
        except WorkloadGone:
            self.post(s.WorkloadGone(time.monotonic()))
            return False
        except WorkloadError as exc:
            self.post(s.RolloutFailed(str(exc), time.monotonic()))
            return False
        return True

    async def _replicas(self) -> int:
        """How many pods the patched template rolls out (what the status counts as patched)."""
        try:
            spec = (await self.workload.read()).get("spec") or {}
        except WorkloadError:
            return 0
        return int(spec.get("replicas", 1))

    async def _wait(self, timeout: float) -> None:
        try:
            await self.workload.wait_ready(timeout=timeout)
        except WorkloadGone:
            self.post(s.WorkloadGone(time.monotonic()))
            return
        except WorkloadError as exc:
            self.post(s.RolloutFailed(str(exc), time.monotonic()))
            return
        if self.pods["patched"]:  # rolled out on the fallback queues: all of them ready
            self.pods = {**self.pods, "ready": self.pods["patched"]}
        self.post(s.PodsReady(time.monotonic()))

    async def _create(self, names: tuple[str, ...]) -> None:
        made: list[str] = []
        for name in names:
            try:
                await self.brokers.create(name, original=self.machine.queues.origin[name])
            except BrokerError as exc:
                refused = tuple(n for n in names if n not in made)
                self.post(s.CreateFailed(refused, str(exc), time.monotonic()))
                break
            made.append(name)
        if made:
            await self._record(made={n: self.machine.queues.origin[n] for n in made})
            self.post(s.QueuesCreated(tuple(made), time.monotonic()))

    async def _stop(self) -> None:
        await self.brokers.stop_forwarding()
        self.post(s.ForwardingStopped(time.monotonic()))

    async def _drain(self, source: str, into: str) -> None:
        moved, remaining = await self.brokers.drain(source, into=into, timeout=self._drain_pass)
        if moved:
            self._audit("split_drain", workload=self.label, queue=source, into=into, moved=moved)
        self.post(s.Drained(source, remaining))

    async def _delete(self, names: tuple[str, ...], *, tries: int = 8) -> None:
        deleted: list[str] = []
        for name in names:
            for attempt in range(tries):
                try:
                    await self.brokers.delete(name, original=self.machine.queues.origin[name])
                    deleted.append(name)
                    break
                except BrokerError as exc:
                    if attempt == tries - 1:
                        message = f"{name} left behind: {exc}"
                        self._audit("split_report", workload=self.label, message=message)
                    else:
                        await asyncio.sleep(min(5.0, 0.2 * 2**attempt))  # back off, then retry
        await self._record(gone=deleted)
        self.post(s.QueuesDeleted(names))

    async def _record(self, **change: Any) -> None:
        """The split's record on the workload updated (what a next operator would finish)."""
        try:
            await self.workload.record(**change)
        except WorkloadError as exc:  # the split goes on; only a crash would need the record
            log.warning("split %s: %s", self.label, exc)
            self._audit("split_report", workload=self.label, message=str(exc))

    def status(self, *, users: Callable[[SessionId], str | None] | None = None) -> dict[str, Any]:
        """The split as ``operator status`` shows it (``users``: a session's user, from its
        record): the workload, its phase and queues, what was routed, its pods, and one
        ``members`` row per session with what it asked."""
        counts = self.brokers.counts()
        return {
            "workload": self.label,
            "namespace": self.workload.namespace,
            "target": self.workload.label,
            "phase": self.machine.phase.value,
            "sessions": sorted(format_session_id(x) for x in self.machine.sessions),
            "queues": {
                "fallback": self.machine.queues_of(None),
                **{format_session_id(x): self.machine.queues_of(x) for x in self.env},
            },
            "routed": {
                ("fallback" if x is None else format_session_id(x)): n for x, n in counts.items()
            },
            "pods": dict(self.pods),
            "delivery": self.brokers.delivery(),
            "members": [
                self._member(x, users, counts.get(x, 0))
                for x in sorted(self.machine.sessions, key=format_session_id)
            ],
        }

    def _member(
        self, session: SessionId, users: Callable[[SessionId], str | None] | None, routed: int
    ) -> dict[str, Any]:
        return {
            "session": format_session_id(session),
            "user": users(session) if users is not None else None,
            "queues": self.machine.queues_of(session) if session in self.env else {},
            "filters": {e.queue_id: _asked(e) for e in self.asked.get(session, ())},
            "routed": routed,
        }


def _asked(entry: QueueSplitConfig) -> dict[str, Any]:
    return {
        "queue_type": entry.queue_type.value,
        "message_filter": dict(entry.message_filter),
        "jq_filter": entry.jq_filter,
        "queue_mode": entry.queue_mode.value,
    }
