"""What the operator knows of one session (pure): its record and its state machine.

A record is written by the :class:`~podtap.core.sessions.book.SessionBook` alone; the
operator reads it (status, persistence) and never sets a field. The state moves only
through :func:`advance`, along the table :data:`TRANSITIONS` (h11 writes its connection
states the same way: as data, so a wrong move is an error, not a quiet corruption)."""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import StrEnum
from typing import Final, NewType

from podtap.core.arbitration import DEFAULT_ON_CONCURRENT_STEAL, OnConcurrentSteal
from podtap.core.ids import Port, RequestId, SessionId, format_session_id
from podtap.core.protocol import CloseReason, HttpFilter, IncomingMode

__all__ = [
    "CONNECTED",
    "LIVE",
    "TRANSITIONS",
    "Move",
    "Principal",
    "SessionRecord",
    "SessionState",
    "SessionStateError",
    "SubscriptionRecord",
    "advance",
    "kube_principal",
    "unix_principal",
]

Principal = NewType("Principal", str)
"""Who owns a session, as the operator verified it: ``unix:UID`` for a caller of its Unix
socket, ``user:NAME`` for a Kubernetes user relayed by the API server. Only the owner (or an
admin) may resume, kill or prune it."""


def unix_principal(uid: int) -> Principal:
    return Principal(f"unix:{uid}")


def kube_principal(user: str) -> Principal:
    return Principal(f"user:{user}")


class SessionState(StrEnum):
    OPEN = "open"  # the client said hello; not attached yet
    ATTACHED = "attached"  # its first client is attached
    DETACHED = "detached"  # the client is gone; the record (and its claims) wait for the TTL
    RESUMED = "resumed"  # a client is attached again (after a detach or an operator restart)
    CLOSING = "closing"  # ended; its client is being told and let go
    CLOSED = "closed"  # ended, with a reason (SessionRecord.reason)


class Move(StrEnum):
    ATTACH = "attach"
    DETACH = "detach"
    END = "end"


class SessionStateError(Exception):
    """A move the session's state does not allow (e.g. attaching a closed session)."""


S, M = SessionState, Move
TRANSITIONS: Final[dict[tuple[SessionState, Move], SessionState]] = {
    (S.OPEN, M.ATTACH): S.ATTACHED,
    (S.DETACHED, M.ATTACH): S.RESUMED,
    (S.OPEN, M.DETACH): S.DETACHED,
    (S.ATTACHED, M.DETACH): S.DETACHED,
    (S.RESUMED, M.DETACH): S.DETACHED,
    (S.CLOSING, M.DETACH): S.CLOSED,
    (S.OPEN, M.END): S.CLOSED,  # no client to tell
    (S.DETACHED, M.END): S.CLOSED,
    (S.ATTACHED, M.END): S.CLOSING,  # its client is told, then detaches
    (S.RESUMED, M.END): S.CLOSING,
}
"""Every allowed move; any other is a :class:`SessionStateError`."""

LIVE: Final = frozenset({S.OPEN, S.ATTACHED, S.DETACHED, S.RESUMED})
CONNECTED: Final = frozenset({S.ATTACHED, S.RESUMED})


def advance(state: SessionState, move: Move) -> SessionState:
    try:
        return TRANSITIONS[state, move]
    except KeyError:
        raise SessionStateError(f"a session that is {state.value} cannot {move.value}") from None


@dataclass(frozen=True, slots=True)
class SubscriptionRecord:
    """A port the session holds: granted by arbitration at unix time ``since``."""

    port: Port
    mode: IncomingMode
    http_filter: HttpFilter | None
    since: float

    def describe(self) -> str:
        text = f"{self.port} {self.mode.value}"
        if self.http_filter is not None:
            text += " " + self.http_filter.describe(table=True)
        return text


@dataclass(slots=True, kw_only=True)
class SessionRecord:
    id: SessionId
    owner: str  # whoami/k8s-user@host
    principal: Principal
    target: str  # deployment/shop
    namespace: str
    pod: str
    client_version: str
    created: float
    last_seen: float  # the last tick it was attached, or its detach
    key: str | None = None  # the session key the client gave (`key`, `--key`), if any
    state: SessionState = SessionState.OPEN
    reason: CloseReason | None = None  # once it ended
    subscriptions: dict[Port, SubscriptionRecord] = field(default_factory=dict)
    connected_once: bool = False
    restored: bool = False  # loaded after an operator restart, no client back yet
    on_concurrent_steal: OnConcurrentSteal = DEFAULT_ON_CONCURRENT_STEAL  # of its client
    pending: dict[RequestId, Port] = field(default_factory=dict)  # asked of the agent

    @property
    def label(self) -> str:
        return format_session_id(self.id)

    @property
    def connected(self) -> bool:
        return self.state in CONNECTED

    @property
    def live(self) -> bool:
        return self.state in LIVE

    @property
    def closed(self) -> CloseReason | None:
        return self.reason

    def ports_text(self) -> str:
        return ", ".join(s.describe() for _, s in sorted(self.subscriptions.items())) or "-"
