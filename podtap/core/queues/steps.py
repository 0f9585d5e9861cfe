"""The split's events (what the operator's shells report) and effects (what they must do).

Names of queues are the broker's names: ``originals`` are the workload's own queues, every
other name is a queue the split created (a session's temporary queue or the workload's
fallback queue), which it drains back into its original before deleting it.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import TypeAlias

from podtap.core.ids import SessionId

__all__ = [
    "CreateFailed",
    "CreateQueues",
    "DeleteQueues",
    "Drain",
    "Drained",
    "Effect",
    "Event",
    "FailSessions",
    "ForwardingStopped",
    "GiveQueues",
    "PatchEnv",
    "PodsReady",
    "QueuesCreated",
    "QueuesDeleted",
    "Report",
    "RestoreEnv",
    "RolloutFailed",
    "SessionJoined",
    "SessionLeft",
    "SetRoutes",
    "StopForwarding",
    "Tick",
    "WaitForPods",
    "WorkloadGone",
]

# -- events ---------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class SessionJoined:
    """A session with ``feature.split_queues`` for this workload started."""

    session: SessionId
    now: float = 0.0


@dataclass(frozen=True, slots=True)
class SessionLeft:
    session: SessionId
    now: float = 0.0


@dataclass(frozen=True, slots=True)
class QueuesCreated:
    names: tuple[str, ...]
    now: float = 0.0


@dataclass(frozen=True, slots=True)
class CreateFailed:
    """The broker refused (or could not be reached to create) these queues."""

    names: tuple[str, ...]
    reason: str
    now: float = 0.0


@dataclass(frozen=True, slots=True)
class PodsReady:
    """The workload's pods rolled out with the env last patched or restored, and are ready."""

    now: float = 0.0


@dataclass(frozen=True, slots=True)
class RolloutFailed:
    reason: str
    now: float = 0.0


@dataclass(frozen=True, slots=True)
class WorkloadGone:
    """The workload was deleted: there is no env to restore, only queues to drain back."""

    now: float = 0.0


@dataclass(frozen=True, slots=True)
class ForwardingStopped:
    """The forwarder finished the messages it held and stopped consuming."""

    now: float = 0.0


@dataclass(frozen=True, slots=True)
class Drained:
    """A drain pass of ``queue`` ended with ``remaining`` messages still in it."""

    queue: str
    remaining: int = 0


@dataclass(frozen=True, slots=True)
class QueuesDeleted:
    names: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class Tick:
    now: float


Event: TypeAlias = (
    SessionJoined
    | SessionLeft
    | QueuesCreated
    | CreateFailed
    | PodsReady
    | RolloutFailed
    | WorkloadGone
    | ForwardingStopped
    | Drained
    | QueuesDeleted
    | Tick
)

# -- effects --------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class CreateQueues:
    names: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class PatchEnv:
    """Point the workload's env from each original queue to its fallback queue."""

    to: Mapping[str, str] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class RestoreEnv:
    """Point the workload's env back to its original queues."""


@dataclass(frozen=True, slots=True)
class WaitForPods:
    """Report :class:`PodsReady` once the pods run the env last patched or restored (a new
    WaitForPods replaces an earlier one: its pods are no longer the ones that count), or
    :class:`RolloutFailed`; the machine itself gives up after ``timeout`` seconds of ticks."""

    timeout: float


@dataclass(frozen=True, slots=True)
class SetRoutes:
    """Forward each original queue's messages to these sessions' queues (by their filters),
    the rest to the fallback; starts the forwarder if it is not running."""

    sessions: tuple[SessionId, ...]


@dataclass(frozen=True, slots=True)
class StopForwarding:
    pass


@dataclass(frozen=True, slots=True)
class GiveQueues:
    """Tell the session's process the names of its queues (original -> temporary)."""

    session: SessionId
    queues: Mapping[str, str]


@dataclass(frozen=True, slots=True)
class Drain:
    """Move every message of ``source`` into ``into``; reported by :class:`Drained`."""

    source: str
    into: str


@dataclass(frozen=True, slots=True)
class DeleteQueues:
    names: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class FailSessions:
    sessions: tuple[SessionId, ...]
    reason: str


@dataclass(frozen=True, slots=True)
class Report:
    """Something the admin should know (audit log, status): one line."""

    message: str


Effect: TypeAlias = (
    CreateQueues
    | PatchEnv
    | RestoreEnv
    | WaitForPods
    | SetRoutes
    | StopForwarding
    | GiveQueues
    | Drain
    | DeleteQueues
    | FailSessions
    | Report
)
