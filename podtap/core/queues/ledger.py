"""The queues a split made, from asking for them to their deletion, for the split machine.

A queue is *asked* (CreateQueues sent), then *owned* (the broker made it), then *draining*
(Drain into its original sent, until a pass finds it empty), then *deleting* (DeleteQueues
sent), then forgotten. Each name remembers its original and its owner (a session, or
``None`` for the workload's fallback), so a drain always goes back where the message came
from, and a name is never asked for again while an earlier queue of that name still lives.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence

from podtap.core.ids import SessionId, format_session_id
from podtap.core.queues import steps as s
from podtap.core.queues.names import FALLBACK_ID

__all__ = ["QueueLedger"]


class QueueLedger:
    def __init__(self, *, originals: Sequence[str], name: Callable[[str, str], str]) -> None:
        self.originals = tuple(originals)
        self._name = name
        self.origin: dict[str, str] = {}  # every live queue -> its original
        self.owner: dict[str, SessionId | None] = {}
        self.asked: set[str] = set()
        self.owned: set[str] = set()
        self.draining: set[str] = set()
        self.deleting: set[str] = set()

    def names(self, owner: SessionId | None) -> dict[str, str]:
        """original -> the name of ``owner``'s queue split from it."""
        label = FALLBACK_ID if owner is None else format_session_id(owner)
        return {orig: self._name(orig, label) for orig in self.originals}

    def ask(self, owner: SessionId | None) -> s.CreateQueues:
        names = self.names(owner)
        for orig, name in names.items():
            self.origin[name], self.owner[name] = orig, owner
            self.asked.add(name)
        return s.CreateQueues(tuple(names.values()))

    def live(self, owner: SessionId | None) -> bool:
        """Whether a queue of ``owner``'s names is still asked for, there or going."""
        return any(name in self.origin for name in self.names(owner).values())

    def ready(self, owner: SessionId | None) -> bool:
        return all(name in self.owned for name in self.names(owner).values())

    def of(self, owner: SessionId | None) -> list[str]:
        return [name for name, o in self.owner.items() if o == owner]

    def created(self, names: Iterable[str]) -> list[str]:
        """The names that were asked for and now exist."""
        fresh = [name for name in names if name in self.asked]
        self.asked.difference_update(fresh)
        self.owned.update(fresh)
        return fresh

    def refused(self, names: Iterable[str]) -> list[str]:
        """The names that were asked for and will never exist."""
        failed = [name for name in names if name in self.asked]
        for name in failed:
            self.asked.discard(name)
            self.origin.pop(name)
            self.owner.pop(name)
        return failed

    def retire(self, names: Iterable[str]) -> list[s.Effect]:
        """Drain each owned queue of ``names`` into its original (once)."""
        out: list[s.Effect] = []
        for name in sorted(names):
            if name in self.owned and name not in self.draining | self.deleting:
                self.draining.add(name)
                out.append(s.Drain(name, self.origin[name]))
        return out

    def drained(self, queue: str, remaining: int) -> list[s.Effect]:
        if queue not in self.draining:
            return []
        if remaining > 0:
            return [s.Drain(queue, self.origin[queue])]
        self.draining.discard(queue)
        self.deleting.add(queue)
        return [s.DeleteQueues((queue,))]

    def deleted(self, names: Iterable[str]) -> None:
        for name in names:
            if name in self.deleting:
                self.deleting.discard(name)
                self.owned.discard(name)
                self.origin.pop(name)
                self.owner.pop(name)

    @property
    def empty(self) -> bool:
        return not self.owned and not self.asked

    def pending(self) -> list[str]:
        """The queues not gone yet, for a report."""
        return sorted(self.draining | self.asked)
