"""What the operator is started with, and what a connect asks of it (data only)."""

from __future__ import annotations

import contextlib
import os
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

from podtap.backends.base import ResolvedTarget
from podtap.core.arbitration import OnConcurrentSteal
from podtap.core.config.queues import QueueSplitConfig
from podtap.core.ids import Port, SessionId, format_session_id
from podtap.core.lifecycle import Limits
from podtap.core.policy.matching import SessionTarget
from podtap.core.policy.profiles import Fixes, FoundProfile
from podtap.core.protocol import HttpFilter
from podtap.core.sessions import DEFAULT_GRACE, BookError, Principal, SessionRecord


class OperatorError(Exception):
    """A request the operator refuses; `status` is the HTTP status to answer with."""

    def __init__(self, status: int, message: str) -> None:
        self.status = status
        super().__init__(message)


_STATUS = {"not_found": 404, "forbidden": 403, "gone": 410, "conflict": 409}


@contextlib.contextmanager
def refusals() -> Iterator[None]:
    """The book's refusals as the API's."""
    try:
        yield
    except BookError as exc:
        raise OperatorError(_STATUS[exc.kind], str(exc)) from None


def handoff_grace_from_env() -> float:
    """$PODTAP_HANDOFF_GRACE (seconds a port taken with override stays with its holder
    once told), else the book's default. The taker's subscribe waits that long for its
    answer: keep it well under a client's request timeout (30 s)."""
    text = os.environ.get("PODTAP_HANDOFF_GRACE", "")
    grace = float(text) if text else DEFAULT_GRACE
    if not grace >= 0:
        raise ValueError(f"PODTAP_HANDOFF_GRACE must be 0 or more seconds, not {text!r}")
    return grace


@dataclass(frozen=True, kw_only=True)
class OperatorSettings:
    state_dir: Path
    limits: Limits = field(default_factory=Limits)
    admin_groups: tuple[str, ...] = ("podtap-admins",)
    agent_grace: float = 5.0
    handoff_grace: float = field(default_factory=handoff_grace_from_env)
    namespace: str = ""  # its own (the chart's release): where PodtapBrokerConfigs are read


class StartRefused(OperatorError):
    """A connect refused because a port it will steal is held (on_concurrent_steal=abort)."""

    def __init__(self, message: str) -> None:
        super().__init__(409, message)


class PolicyRefused(OperatorError):
    """A connect a policy refuses (one line naming the policy or the unknown profile)."""

    def __init__(self, message: str, *, status: int = 403) -> None:
        super().__init__(status, message)


@dataclass(frozen=True, slots=True, kw_only=True)
class SessionRules:
    """What a session's policies are matched on (its target), its profile (sent back to
    the client at connect) and what that profile fixed."""

    target: SessionTarget
    fixes: Fixes | None = None
    profile: FoundProfile | None = None


@dataclass(frozen=True, slots=True, kw_only=True)
class ConnectOptions:
    """What a connect says of the session it opens: how it treats a port another session
    steals, the ports it will steal whatever its command does (configured ``ports``: checked
    before the command starts), and its session key."""

    on_concurrent_steal: OnConcurrentSteal = OnConcurrentSteal.ABORT
    steals: tuple[tuple[Port, HttpFilter | None], ...] = ()
    key: str | None = None
    profile: str | None = None
    #: ``feature.split_queues``: the queues of the target's workload this session splits
    splits: tuple[QueueSplitConfig, ...] = ()


@dataclass(frozen=True, slots=True, kw_only=True)
class Opening:
    """A connect the operator agreed to upgrade, before the client's hello. It records
    nothing: a connect that never says hello must cost no record, no audit event and no
    write to the state dir (a flood of them once piled up for the setup deadline)."""

    id: SessionId
    resumed: SessionRecord | None
    resolved: ResolvedTarget
    owner: str
    principal: Principal
    target: str
    namespace: str
    client_version: str
    options: ConnectOptions = field(default_factory=ConnectOptions)
    rules: SessionRules | None = None

    @property
    def label(self) -> str:
        return format_session_id(self.id)
