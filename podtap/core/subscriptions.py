"""Which sessions take which traffic of an agent's ports (pure).

The operator arbitrates who may subscribe; the agent keeps the resulting table and asks
it, per new connection, how to route. Earlier subscriptions win ties."""

from __future__ import annotations

import itertools
from dataclasses import dataclass, field

from podtap.core.ids import Port, SessionId
from podtap.core.protocol import HttpFilter, IncomingMode
from podtap.core.routing.matcher import CompiledFilter


@dataclass(frozen=True, slots=True)
class Subscription:
    session: SessionId
    port: Port
    mode: IncomingMode
    http_filter: HttpFilter | None
    order: int
    compiled: CompiledFilter | None = None  # compiled once, reused by every connection


@dataclass(frozen=True, slots=True)
class PortPlan:
    """How to handle a new connection to a port."""

    steal_all: SessionId | None = None
    filtered: tuple[Subscription, ...] = ()
    mirrors: tuple[SessionId, ...] = ()

    @property
    def empty(self) -> bool:
        return self.steal_all is None and not self.filtered and not self.mirrors


@dataclass
class PortTable:
    _subs: dict[Port, list[Subscription]] = field(default_factory=dict)
    _order: itertools.count[int] = field(default_factory=itertools.count)

    def subscribe(
        self, session: SessionId, port: Port, mode: IncomingMode, http_filter: HttpFilter | None
    ) -> bool:
        """Add or replace `session`'s subscription of `port`; True if the port is new."""
        subs = self._subs.setdefault(port, [])
        new_port = not subs
        subs[:] = [s for s in subs if s.session != session]
        compiled = CompiledFilter(http_filter) if http_filter is not None else None
        subs.append(Subscription(session, port, mode, http_filter, next(self._order), compiled))
        return new_port

    def unsubscribe(self, session: SessionId, port: Port) -> bool:
        """Remove it; True if nobody subscribes to `port` any more."""
        subs = self._subs.get(port, [])
        subs[:] = [s for s in subs if s.session != session]
        if subs:
            return False
        self._subs.pop(port, None)
        return True

    def remove_session(self, session: SessionId) -> list[Port]:
        """Drop every subscription of `session`; returns ports nobody subscribes to now."""
        emptied = []
        for port in list(self._subs):
            if any(s.session == session for s in self._subs[port]) and self.unsubscribe(
                session, port
            ):
                emptied.append(port)
        return emptied

    def ports(self) -> list[Port]:
        return sorted(self._subs)

    def subscriptions(self, port: Port) -> tuple[Subscription, ...]:
        return tuple(self._subs.get(port, ()))

    def plan(self, port: Port) -> PortPlan:
        subs = sorted(self._subs.get(port, ()), key=lambda s: s.order)
        steals = [s for s in subs if s.mode == IncomingMode.STEAL]
        whole = next((s.session for s in steals if s.http_filter is None), None)
        return PortPlan(
            steal_all=whole,
            filtered=() if whole is not None else tuple(s for s in steals if s.http_filter),
            mirrors=tuple(s.session for s in subs if s.mode == IncomingMode.MIRROR),
        )
