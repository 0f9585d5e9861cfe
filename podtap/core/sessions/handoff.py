"""A port changing hands under ``on_concurrent_steal: override`` (pure data and texts).

The taker's subscribe is not granted at once: the holders are told who wants the port,
and it moves after the book's grace, or as soon as every holder has let it go (its client
unsubscribed, detached, or its session ended). Until then the holders keep it, and their
status says it is being handed over; the taker's says it waits. If the taker goes first,
nothing moves."""

from __future__ import annotations

from dataclasses import dataclass

from podtap.core.arbitration import PortSubscription
from podtap.core.ids import Port, RequestId, SessionId, format_session_id

__all__ = ["HandOff", "cancelled_notice", "handoff_notice", "waiting_notice"]


@dataclass(frozen=True, slots=True, kw_only=True)
class HandOff:
    """``taker`` (with its ``port``) takes the port from ``holders`` at ``due``; its
    subscribe ``request`` is answered then."""

    taker: PortSubscription
    request: RequestId
    holders: frozenset[SessionId]
    due: float

    @property
    def port(self) -> Port:
        assert self.taker.port is not None
        return self.taker.port

    def without(self, holder: SessionId) -> HandOff:
        return HandOff(
            taker=self.taker,
            request=self.request,
            holders=self.holders - {holder},
            due=self.due,
        )


def _in(seconds: float) -> str:
    return f"{max(seconds, 0.0):.1f} s"


def _who(sub: PortSubscription) -> str:
    flt = "without a filter" if sub.http_filter is None else sub.http_filter.describe(table=True)
    return f"{sub.user} (session {format_session_id(sub.session)}) {flt}"


def handoff_notice(handoff: HandOff, *, now: float) -> str:
    """What a holder is told at once: who wants its port, and when it moves."""
    return (
        f"port {handoff.port} will be taken over by {_who(handoff.taker)} "
        f"in {_in(handoff.due - now)} (on_concurrent_steal=override); "
        "unsubscribe the port to hand it over now"
    )


def waiting_notice(handoff: HandOff, holders: str, *, now: float) -> str:
    """What the taker is told at once: whose port it waits for."""
    return (
        f"port {handoff.port} is held by {holders}; it is handed over to this session in "
        f"{_in(handoff.due - now)} (on_concurrent_steal=override)"
    )


def cancelled_notice(handoff: HandOff) -> str:
    """What a holder is told when the taker went before the port moved."""
    return (
        f"{handoff.taker.user} (session {format_session_id(handoff.taker.session)}) "
        f"no longer takes port {handoff.port}: it stays with this session"
    )
