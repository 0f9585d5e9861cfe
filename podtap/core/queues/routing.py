"""Where the forwarder sends one message of an original queue: the routing decision.

Steal: the sessions in steal mode whose filter matches compete for the message, and one of
them gets it; which one is ``pick(n)`` (an index below ``n``), the shell's random choice,
passed in so that tests are deterministic. No steal match: the message goes to the
fallback queue, which the deployed workload consumes. Mirror: every matching session in
mirror mode also gets a copy, and the message itself still goes where it would have gone
(the stealing session, else the fallback), so mirroring never takes anything from anyone.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

from podtap.core.config.queues import QueueMode
from podtap.core.ids import SessionId
from podtap.core.queues.filters import Message, QueueFilter

__all__ = ["Route", "Routing", "route"]


@dataclass(frozen=True, slots=True)
class Route:
    """One session's filter on the queue being forwarded."""

    session: SessionId
    filter: QueueFilter


@dataclass(frozen=True, slots=True)
class Routing:
    """The decision for one message: ``to`` is the session that takes it (``None``: the
    fallback queue); ``copies`` are the mirroring sessions that get a copy."""

    to: SessionId | None
    copies: tuple[SessionId, ...] = ()

    @property
    def to_fallback(self) -> bool:
        return self.to is None


def route(message: Message, routes: Sequence[Route], *, pick: Callable[[int], int]) -> Routing:
    """Decide where ``message`` goes; ``pick(n)`` chooses among ``n > 1`` stealing matches."""
    steals: list[SessionId] = []
    copies: list[SessionId] = []
    for item in routes:
        if item.filter.matches(message):
            (steals if item.filter.mode is QueueMode.STEAL else copies).append(item.session)
    if not steals:
        return Routing(None, tuple(copies))
    index = pick(len(steals)) if len(steals) > 1 else 0
    if not 0 <= index < len(steals):
        raise ValueError(f"pick({len(steals)}) returned {index}, not an index below it")
    return Routing(steals[index], tuple(copies))
