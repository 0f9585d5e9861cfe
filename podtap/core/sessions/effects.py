"""What the book decided must be done (outputs), carried out by `operator/service.py`.

Effects are data, in the order they must happen: a record is persisted before the client
is told, a port is released at the agent before another session's subscribe reaches it.
An effect for a session without a client (detached, or never attached) is dropped by the
executor, except `Persist`, `Forget` and `Audit`: the record and the audit log are the
operator's own."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Final, TypeAlias

from podtap.core.ids import Port, RequestId, SessionId
from podtap.core.protocol import CloseReason, HttpFilter, IncomingMode, Payload

NO_REQUEST: Final = RequestId(0)  # a subscribe nobody waits the answer of

__all__ = [
    "NO_REQUEST",
    "Audit",
    "Close",
    "Effect",
    "Forget",
    "Persist",
    "Release",
    "Subscribe",
    "Tell",
    "Wake",
]


@dataclass(frozen=True, slots=True, kw_only=True)
class Tell:
    """Send ``payload`` to the session's client."""

    session: SessionId
    payload: Payload


@dataclass(frozen=True, slots=True, kw_only=True)
class Subscribe:
    """Ask the session's agent to route ``port`` to it (its answer, for a non-zero
    ``request``, comes back as :class:`~podtap.core.sessions.events.SubscribeAnswered`)."""

    session: SessionId
    port: Port
    mode: IncomingMode
    http_filter: HttpFilter | None = None
    request: RequestId = NO_REQUEST


@dataclass(frozen=True, slots=True, kw_only=True)
class Release:
    """Tell the session's agent to stop routing ``port`` to it."""

    session: SessionId
    port: Port


@dataclass(frozen=True, slots=True, kw_only=True)
class Persist:
    """Journal the session's record as it is now."""

    session: SessionId


@dataclass(frozen=True, slots=True, kw_only=True)
class Forget:
    """The session ended: drop its record from the state dir."""

    session: SessionId


@dataclass(frozen=True, slots=True, kw_only=True)
class Audit:
    """One line of the audit log (the operator's metrics count some kinds as well)."""

    kind: str
    fields: Mapping[str, object] = field(default_factory=dict)


@dataclass(frozen=True, slots=True, kw_only=True)
class Close:
    """Tell the session's client it ended (``reason``, ``message``) and let it go."""

    session: SessionId
    reason: CloseReason
    message: str


@dataclass(frozen=True, slots=True, kw_only=True)
class Wake:
    """Feed the book a :class:`~podtap.core.sessions.events.Tick` at unix time ``at``."""

    at: float


Effect: TypeAlias = Tell | Subscribe | Release | Persist | Forget | Audit | Close | Wake
