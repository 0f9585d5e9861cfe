"""A model of brokers, a workload and sessions that carries out a split machine's effects,
so tests can check what a user cares about: no message lost, no queue left.

Messages are numbers, each with a ``tenant`` attribute. The forwarder (while routes are
set) moves every message of an original queue where :func:`route` says, by the sessions'
real filters; the workload consumes whichever queue its env names; a session consumes its
queues once given them, and what it got is kept to check against its filter. Answers to
effects (queues created, pods ready, drained, ...) are queued and delivered when the test
says, in any order, to explore interleavings. A message put into a queue that does not exist, or a
non-empty queue deleted, is a loss and fails at once.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field

from podtap.core.ids import SessionId
from podtap.core.queues import Message, QueueFilter, QueueKind, Route, compile_queue_filter, route
from podtap.core.queues import steps as s
from podtap.core.queues.machine import SplitMachine

TENANTS = ("alice", "bob", "carol", "dave")


def message(number: int) -> Message:
    return Message({"tenant": TENANTS[number % len(TENANTS)]})


def wanting(regex: str) -> QueueFilter:
    return compile_queue_filter(queue_id="q", kind=QueueKind.SQS, message_filter={"tenant": regex})


@dataclass
class World:
    machine: SplitMachine
    filters: dict[SessionId, QueueFilter]
    queues: dict[str, list[int]] = field(default_factory=dict)
    env: dict[str, str] = field(default_factory=dict)  # original -> queue the pods read
    routes: tuple[SessionId, ...] = ()
    forwarding: bool = False
    given: dict[SessionId, dict[str, str]] = field(default_factory=dict)
    consumed: Counter[str] = field(default_factory=Counter)
    got: dict[SessionId, list[int]] = field(default_factory=dict)
    answers: list[s.Event] = field(default_factory=list)
    effects: list[s.Effect] = field(default_factory=list)
    published: int = 0
    now: float = 0.0

    def __post_init__(self) -> None:
        for original in self.machine.originals:
            self.queues[original] = []
            self.env[original] = original

    def feed(self, event: s.Event) -> list[s.Effect]:
        out = self.machine.handle(event)
        for effect in out:
            self.carry_out(effect)
        return out

    def carry_out(self, effect: s.Effect) -> None:
        self.effects.append(effect)
        match effect:
            case s.CreateQueues(names):
                for name in names:
                    assert name not in self.queues, f"{name} created twice"
                    self.queues[name] = []
                self.answers.append(s.QueuesCreated(names))
            case s.PatchEnv(to):
                for original, name in to.items():
                    assert name in self.queues, f"env patched to {name}, which does not exist"
                    self.env[original] = name
            case s.RestoreEnv():
                self.env = {o: o for o in self.machine.originals}
            case s.WaitForPods():
                self.answers.append(s.PodsReady())
            case s.SetRoutes(sessions):
                self.routes, self.forwarding = sessions, True
            case s.StopForwarding():
                self.forwarding = False
                self.answers.append(s.ForwardingStopped())
            case s.GiveQueues(session, queues):
                self.given[session] = dict(queues)
            case s.Drain(source, into):
                self.queues[into].extend(self.queues[source])
                self.queues[source].clear()
                self.answers.append(s.Drained(source, 0))
            case s.DeleteQueues(names):
                for name in names:
                    assert not self.queues[name], f"{name} deleted with messages in it: lost"
                    del self.queues[name]
                self.answers.append(s.QueuesDeleted(names))
            case s.FailSessions(sessions):
                for session in sessions:
                    self.given.pop(session, None)
            case s.Report():
                pass

    # -- traffic -------------------------------------------------------------------------

    def publish(self, count: int = 3) -> None:
        for original in self.machine.originals:
            for _ in range(count):
                self.queues[original].append(self.published)
                self.published += 1

    def forward(self) -> None:
        if not self.forwarding:
            return
        for original in self.machine.originals:
            batch, self.queues[original] = self.queues[original], []
            routes = [Route(x, self.filters[x]) for x in self.routes]
            for number in batch:
                owner = route(message(number), routes, pick=number.__mod__).to
                name = self.machine.queues_of(owner)[original]
                assert name in self.queues, f"message {number} forwarded to {name}: gone"
                self.queues[name].append(number)

    def consume(self) -> None:
        for name in self.env.values():
            self.consumed["workload"] += len(self.queues[name])
            self.queues[name].clear()
        for session, queues in self.given.items():
            if session not in self.machine.sessions:
                continue
            for name in queues.values():
                if name in self.queues:
                    self.consumed[f"{session:x}"] += len(self.queues[name])
                    self.got.setdefault(session, []).extend(self.queues[name])
                    self.queues[name].clear()

    def fail(self, index: int) -> None:
        """Turn a pending answer into its failure: the broker refused the queues, or the
        pods did not roll out."""
        if not self.answers:
            return
        index %= len(self.answers)
        match self.answers[index]:
            case s.QueuesCreated(names):
                for name in names:
                    assert not self.queues.pop(name), f"{name} refused with messages in it"
                self.answers[index] = s.CreateFailed(names, "the broker refused")
            case s.PodsReady():
                self.answers[index] = s.RolloutFailed("CrashLoopBackOff")
            case _:
                pass

    def settle(self) -> None:
        """Deliver every answer, in order, with traffic in between."""
        while self.answers:
            self.forward()
            self.feed(self.answers.pop(0))

    # -- what a user sees -----------------------------------------------------------------

    def leftover_queues(self) -> list[str]:
        return sorted(set(self.queues) - set(self.machine.originals))

    def each_session_got_only_its_own(self) -> bool:
        return all(
            self.filters[session].matches(message(number))
            for session, numbers in self.got.items()
            for number in numbers
        )

    def accounted(self) -> int:
        return sum(self.consumed.values()) + sum(len(q) for q in self.queues.values())
