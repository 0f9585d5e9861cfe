"""What happens to sessions, as the operator's shells report it to the book (inputs).

Each event says what happened, never what to do about it: the book decides that. Times
are unix seconds given by the caller (``now``), so a transcript test controls the clock."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TypeAlias

from podtap.core.arbitration import OnConcurrentSteal
from podtap.core.ids import Port, SessionId
from podtap.core.protocol import CloseReason, SubscribeResult
from podtap.core.protocol import Subscribe as SubscribeFrame
from podtap.core.sessions.records import Principal, SessionRecord

__all__ = [
    "Actor",
    "Attach",
    "Begin",
    "Detach",
    "End",
    "Event",
    "Kill",
    "Linked",
    "Prune",
    "Restore",
    "SubscribeAnswered",
    "SubscribeAsked",
    "Tick",
    "UnsubscribeAsked",
]


@dataclass(frozen=True, slots=True, kw_only=True)
class Actor:
    """Who asks (a kill, a prune): shown as ``name``; may act on sessions of ``principal``, or on
    every session if ``admin``."""

    name: str
    principal: Principal
    admin: bool = False


@dataclass(frozen=True, slots=True, kw_only=True)
class Begin:
    """A client said hello on a new session."""

    session: SessionId
    owner: str
    principal: Principal
    target: str
    namespace: str
    pod: str
    client_version: str
    now: float
    key: str | None = None


@dataclass(frozen=True, slots=True, kw_only=True)
class Restore:
    """Records loaded from the state dir after an operator restart."""

    records: tuple[SessionRecord, ...]


@dataclass(frozen=True, slots=True, kw_only=True)
class Attach:
    """A client is attached to the session (new, or resuming it)."""

    session: SessionId
    on_concurrent_steal: OnConcurrentSteal
    now: float


@dataclass(frozen=True, slots=True, kw_only=True)
class Linked:
    """The session's agent link is up: what it holds can be asked of the agent again."""

    session: SessionId


@dataclass(frozen=True, slots=True, kw_only=True)
class Detach:
    """The session's client is gone (or was let go after the session ended)."""

    session: SessionId
    now: float


@dataclass(frozen=True, slots=True, kw_only=True)
class SubscribeAsked:
    """The client asked for a port."""

    session: SessionId
    frame: SubscribeFrame
    now: float


@dataclass(frozen=True, slots=True, kw_only=True)
class UnsubscribeAsked:
    """The client let a port go."""

    session: SessionId
    port: Port
    now: float


@dataclass(frozen=True, slots=True, kw_only=True)
class SubscribeAnswered:
    """The agent answered a subscribe the book asked of it."""

    session: SessionId
    result: SubscribeResult


@dataclass(frozen=True, slots=True, kw_only=True)
class End:
    """Something ended the session (its client exited or broke the protocol, its agent
    failed or closed it, its target is gone, the operator stops)."""

    session: SessionId
    reason: CloseReason
    message: str
    now: float


@dataclass(frozen=True, slots=True, kw_only=True)
class Kill:
    session: SessionId
    by: Actor
    now: float


@dataclass(frozen=True, slots=True, kw_only=True)
class Prune:
    """End every session of ``by`` (an admin's: every session) that has no client."""

    by: Actor
    now: float


@dataclass(frozen=True, slots=True, kw_only=True)
class Tick:
    """Time passed: limits and hand-off graces are checked against ``now``."""

    now: float


Event: TypeAlias = (
    Begin
    | Restore
    | Attach
    | Linked
    | Detach
    | SubscribeAsked
    | UnsubscribeAsked
    | SubscribeAnswered
    | End
    | Kill
    | Prune
    | Tick
)
