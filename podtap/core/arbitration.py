"""Who may subscribe to a port of a target pod, and who gets a request (pure).

The operator keeps, per target pod and port, the subscriptions ``(session, mode, filter)``
and asks :func:`decide` about each new one (architecture.md §6, spec.md §4 "Concurrency"):

- ``mirror``: always allowed (policies are checked elsewhere);
- ``steal`` without a filter: exclusive -- refused while any other steal holds the port, and
  while it holds, every new steal (filtered or not) is refused;
- ``steal`` with a filter: allowed next to other filtered steals unless its filter is
  identical to, or provably overlaps, a held one (:func:`~podtap.core.filter_overlap.
  filters_overlap`);
- a session's own subscriptions of the port never conflict: the new one replaces them.

On a conflict ``on_concurrent_steal`` picks the outcome: ``abort`` refuses (and the operator
ends the session, :func:`abort_message`), ``continue`` lets the session run without the
port, ``override`` hands exactly the conflicting holders' port over (the session book
tells them at once and moves it after a grace: :mod:`podtap.core.sessions.handoff`). Ports
a session is known to steal before its command starts (configured ``ports``) are checked
then (:func:`start_refusal`), so that ``abort`` stops the run before the command starts.
At run time a request matching several filters goes to the earliest subscriber (the
agent's port table; :func:`route_owner` states the rule). The other sessions whose
filters matched are not told: the operator does not see which filters a request matched.
"""

from __future__ import annotations

import math
from collections.abc import Collection, Sequence
from dataclasses import dataclass
from enum import StrEnum
from typing import Final, TypeAlias

from podtap.core.filter_overlap import filters_overlap
from podtap.core.ids import Port, SessionId, format_session_id
from podtap.core.protocol import HttpFilter, IncomingMode

__all__ = [
    "DEFAULT_ON_CONCURRENT_STEAL",
    "Allow",
    "ContinueWithout",
    "Decision",
    "Holder",
    "OnConcurrentSteal",
    "Override",
    "PortSubscription",
    "Refuse",
    "RouteOwner",
    "abort_message",
    "conflicting_holders",
    "decide",
    "eviction_notice",
    "filters_overlap",
    "format_age",
    "route_owner",
    "start_refusal",
]


class OnConcurrentSteal(StrEnum):
    """What to do when a steal conflicts with subscriptions of other sessions."""

    ABORT = "abort"
    CONTINUE = "continue"
    OVERRIDE = "override"


DEFAULT_ON_CONCURRENT_STEAL: Final = OnConcurrentSteal.ABORT


@dataclass(frozen=True, slots=True, kw_only=True)
class PortSubscription:
    """One session's subscription of one port of a target pod.

    ``user`` is the owner as shown to people (``whoami/k8s-user@host``), ``since`` the unix
    time the subscription was granted; ``http_filter`` None means the whole port. ``port``
    is optional: with it, messages say ``port 80`` (else ``the port``) and :func:`decide`
    ignores held subscriptions of other ports.
    """

    session: SessionId
    user: str
    since: float
    mode: IncomingMode
    http_filter: HttpFilter | None = None
    port: Port | None = None


Holder: TypeAlias = PortSubscription
"""A subscription already granted (the same type, named for what it is in a decision)."""


@dataclass(frozen=True, slots=True)
class Allow:
    """Grant the subscription (replacing the session's own earlier one of the port)."""


@dataclass(frozen=True, slots=True)
class Refuse:
    """Refuse; ``message`` names every conflicting holder (``holders``, oldest first)."""

    message: str
    holders: tuple[PortSubscription, ...]


@dataclass(frozen=True, slots=True)
class ContinueWithout:
    """Do not subscribe, but let the session run without this port."""

    message: str
    holders: tuple[PortSubscription, ...]


@dataclass(frozen=True, slots=True)
class Override:
    """Take the port from the holders in ``evict`` (the session book hands it over; the
    holders are told, see :func:`eviction_notice`)."""

    evict: tuple[PortSubscription, ...]
    message: str


Decision: TypeAlias = Allow | Refuse | ContinueWithout | Override


@dataclass(frozen=True, slots=True)
class RouteOwner:
    """Who gets one request: ``owner``; ``warn`` matched too (``message`` says who won)."""

    owner: PortSubscription
    warn: tuple[PortSubscription, ...]
    message: str


def format_age(seconds: float) -> str:
    """A duration as ``42s``, ``5m03s``, ``2h05m03s`` or ``3d04h05m`` (negative: ``0s``)."""
    total = int(seconds) if math.isfinite(seconds) and seconds > 0 else 0
    days, rest = divmod(total, 86400)
    hours, rest = divmod(rest, 3600)
    minutes, secs = divmod(rest, 60)
    if days:
        return f"{days}d{hours:02d}h{minutes:02d}m"
    if hours:
        return f"{hours}h{minutes:02d}m{secs:02d}s"
    if minutes:
        return f"{minutes}m{secs:02d}s"
    return f"{secs}s"


def conflicting_holders(
    existing: Sequence[PortSubscription], request: PortSubscription
) -> tuple[PortSubscription, ...]:
    """The subscriptions of other sessions that ``request`` conflicts with, oldest first.

    Subscriptions of another port are ignored (when both ports are known); a mirror
    conflicts with nothing.
    """
    if request.mode != IncomingMode.STEAL:
        return ()
    found = {
        held
        for held in existing
        if (held.port is None or request.port is None or held.port == request.port)
        and held.session != request.session
        and held.mode == IncomingMode.STEAL
        and _steals_conflict(held.http_filter, request.http_filter)
    }
    return tuple(sorted(found, key=_full_order))


def decide(
    existing: Sequence[PortSubscription],
    request: PortSubscription,
    *,
    on_concurrent_steal: OnConcurrentSteal,
    now: float,
) -> Decision:
    """Whether ``request`` may join ``existing`` (the subscriptions of its pod and port).

    The result does not depend on the order of ``existing``. Messages name each conflicting
    holder's user, session id and age (computed from ``now``), e.g. ``port 80 is stolen by
    alice/alice@laptop (session 0123456789ABCDEF, since 5m03s) with filter header=~'x-user:
    alice'; use a different filter, or on_concurrent_steal=override``.
    """
    holders = conflicting_holders(existing, request)
    if not holders:
        return Allow()
    port = _port_text(request)
    who = ", and by ".join(_describe_holder(held, now) for held in holders)
    match OnConcurrentSteal(on_concurrent_steal):
        case OnConcurrentSteal.OVERRIDE:
            return Override(
                holders, f"taking over {port} from {who} (on_concurrent_steal=override)"
            )
        case OnConcurrentSteal.CONTINUE:
            return ContinueWithout(
                f"{port} is stolen by {who}; "
                f"continuing without {port} (on_concurrent_steal=continue)",
                holders,
            )
        case OnConcurrentSteal.ABORT:
            if any(held.http_filter is None for held in holders):
                advice = "use mode mirror"
            elif request.http_filter is None:
                advice = "steal with a filter that does not overlap theirs"
            else:
                advice = "use a different filter"
            return Refuse(
                f"{port} is stolen by {who}; {advice}, or on_concurrent_steal=override",
                holders,
            )


def start_refusal(
    existing: Sequence[PortSubscription],
    wanted: Sequence[PortSubscription],
    *,
    on_concurrent_steal: OnConcurrentSteal,
    now: float,
) -> Refuse | None:
    """Whether a session must not start: with ``abort``, a port it will steal (``wanted``,
    each with its ``port``) conflicts with a holder in ``existing`` (the subscriptions of its
    pod). The refusal's message names every conflict, as :func:`decide`'s do, and says the
    session was aborted. ``continue`` and ``override`` start: they act when the port is
    subscribed."""
    if OnConcurrentSteal(on_concurrent_steal) is not OnConcurrentSteal.ABORT:
        return None
    refusals = [
        decision
        for request in wanted
        if isinstance(
            decision := decide(existing, request, on_concurrent_steal=on_concurrent_steal, now=now),
            Refuse,
        )
    ]
    if not refusals:
        return None
    holders = tuple(sorted({h for r in refusals for h in r.holders}, key=_full_order))
    return Refuse(abort_message("; and ".join(r.message for r in refusals)), holders)


def abort_message(message: str) -> str:
    """What a session ended by ``abort`` is told: why (``message``, from :func:`decide`)."""
    return f"aborted (on_concurrent_steal=abort): {message}"


def eviction_notice(by: PortSubscription) -> str:
    """What an evicted holder is told when ``by`` took its port with ``override``."""
    return (
        f"{_port_text(by)} was taken over by {by.user} (session {format_session_id(by.session)}) "
        f"{_describe_filter(by.http_filter)} (on_concurrent_steal=override)"
    )


def route_owner(
    subs: Sequence[PortSubscription], matching_sessions: Collection[SessionId]
) -> RouteOwner | None:
    """Who gets a request that the filters of ``matching_sessions`` match (None: the app).

    Among the steal subscriptions of those sessions the earliest (smallest ``since``, ties
    by smaller session id) wins; ``warn`` lists the others, with a ``message`` for them
    (for a caller that knows which filters matched: the agent). Mirrors are ignored.
    """
    candidates = sorted(
        (s for s in subs if s.mode == IncomingMode.STEAL and s.session in matching_sessions),
        key=_full_order,
    )
    if not candidates:
        return None
    owner = candidates[0]
    warn: list[PortSubscription] = []
    for sub in candidates[1:]:
        if sub.session != owner.session and all(w.session != sub.session for w in warn):
            warn.append(sub)
    message = (
        f"a request on {_port_text(owner)} matched the filters of several sessions; it went to "
        f"{owner.user} (session {format_session_id(owner.session)}), the earliest subscriber"
    )
    return RouteOwner(owner, tuple(warn), message)


def _steals_conflict(held: HttpFilter | None, new: HttpFilter | None) -> bool:
    if held is None or new is None:
        return True
    return filters_overlap(held, new)


def _full_order(sub: PortSubscription) -> tuple[float, int, str, str, str, int]:
    port = -1 if sub.port is None else sub.port
    return (sub.since, sub.session, sub.user, str(sub.mode), repr(sub.http_filter), port)


def _port_text(sub: PortSubscription) -> str:
    return "the port" if sub.port is None else f"port {sub.port}"


def _describe_filter(flt: HttpFilter | None) -> str:
    return "without a filter" if flt is None else f"with filter {flt.describe()}"


def _describe_holder(held: PortSubscription, now: float) -> str:
    return (
        f"{held.user} (session {format_session_id(held.session)}, "
        f"since {format_age(now - held.since)}) {_describe_filter(held.http_filter)}"
    )
