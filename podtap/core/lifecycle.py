"""When a session must end (pure): setup deadline, unused TTL, time limit."""

from __future__ import annotations

from dataclasses import dataclass

from podtap.core.protocol import CloseReason

ACTIVITY_INTERVAL = 3.0
MIN_UNUSED_TTL = 6.0


@dataclass(frozen=True, slots=True, kw_only=True)
class Limits:
    handshake_deadline: float = 10.0  # for a connect's hello; before it there is no session
    setup_deadline: float = 180.0
    unused_ttl: float = 30.0
    max_time: float | None = None

    def __post_init__(self) -> None:
        if self.unused_ttl < MIN_UNUSED_TTL:
            raise ValueError(f"unused TTL must be at least {MIN_UNUSED_TTL:.0f} s")


@dataclass(frozen=True, slots=True, kw_only=True)
class Activity:
    """What the lifecycle needs to know of a session."""

    created: float
    connected_once: bool
    connected_now: bool
    last_seen: float  # last frame from the client, or its disconnection


def expired(activity: Activity, limits: Limits, *, now: float) -> tuple[CloseReason, str] | None:
    """The reason a session must close now, with a sentence for people, or None."""
    if limits.max_time is not None and now - activity.created >= limits.max_time:
        return CloseReason.TIME_LIMIT_EXCEEDED, (
            f"the session reached its time limit of {limits.max_time:.0f} s"
        )
    if not activity.connected_once:
        if now - activity.created >= limits.setup_deadline:
            return CloseReason.SETUP_DEADLINE_EXCEEDED, (
                f"no client connected within {limits.setup_deadline:.0f} s"
            )
        return None
    if not activity.connected_now and now - activity.last_seen >= limits.unused_ttl:
        return CloseReason.UNUSED, f"the client was gone for {limits.unused_ttl:.0f} s"
    return None
