"""When a client whose link to the operator dropped tries again, and when it gives up (pure).

The operator keeps a detached session's record, and its claims, for the unused TTL
(`core/lifecycle.py`), and a connect with `?session=ID` resumes it, subscriptions and all.
So a dropped link (the connection ended without a `Close` from the operator: an operator
restart, a network blip) is not the end of a run: the client tries again with growing
pauses until it is back, the operator says the session is gone (410), or the TTL has
passed since the drop — by then the operator has ended the session, or will as soon as it
looks. A `Close` with a reason (killed, expired, TargetGone…) is the end, as before.

The operator announces its TTL when it answers the connect (`X-Podtap-Unused-Ttl`); from
an operator too old to say, the client takes `PODTAP_UNUSED_TTL` if its environment has
it, else the operator's default."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

from podtap.core.ids import StreamId
from podtap.core.lifecycle import MIN_UNUSED_TTL, Limits

TTL_VARIABLE = "PODTAP_UNUSED_TTL"
# Refusals that another try cannot change: a bad request, a session of someone else's. The
# rest (409 "already has a client" while the operator has not yet seen the old link go, a
# target being rescheduled, a 5xx) may pass, and are tried again until the deadline.
FINAL_REFUSALS = frozenset({400, 401, 403, 410})


def client_ttl(env: Mapping[str, str], *, announced: float | None = None) -> float:
    """How long the operator keeps a detached session, as far as this client knows: what
    the operator `announced` at connect, else the operator's own variable if this client's
    environment has it (an older operator says nothing), else the operator's default."""
    if announced is not None and announced > 0:
        return max(MIN_UNUSED_TTL, announced)
    try:
        return max(MIN_UNUSED_TTL, float(env[TTL_VARIABLE]))
    except (KeyError, ValueError):
        return Limits().unused_ttl


@dataclass(frozen=True, slots=True, kw_only=True)
class Backoff:
    """Pauses between attempts: `first`, growing by `factor` up to `cap`, each shortened by
    up to `spread` of itself at random, so clients of a restarted operator do not come
    back in step."""

    first: float = 0.1
    factor: float = 2.0
    cap: float = 1.0
    spread: float = 0.2

    def pause(self, attempt: int, *, chance: float) -> float:
        """The pause before attempt `attempt` (1 is the first retry), `chance` in [0, 1)."""
        if attempt <= 1:
            return 0.0  # right away: a blip is usually over by the time we notice it
        plain = min(self.cap, self.first * self.factor ** (attempt - 2))
        return plain * (1 - self.spread * chance)


@dataclass(frozen=True, slots=True)
class Retry:
    """Try again after `pause` seconds; `tell` is the line to show, or None (not every
    attempt is worth a line)."""

    attempt: int
    pause: float
    tell: str | None


@dataclass(frozen=True, slots=True)
class GiveUp:
    """The session is gone: `reason` says why, for the user."""

    reason: str


@dataclass(slots=True, kw_only=True)
class Outage:
    """One dropped link of session `label`, from `lost_at` until resumed or given up."""

    label: str
    cause: str
    lost_at: float
    ttl: float
    backoff: Backoff = field(default_factory=Backoff)
    attempt: int = 0
    last_error: str | None = None

    @property
    def deadline(self) -> float:
        return self.lost_at + self.ttl

    def next(self, *, now: float, chance: float = 0.0, error: str | None = None) -> Retry | GiveUp:
        """After the drop, or an attempt that failed with `error`: when to try again, or
        that it is over."""
        self.last_error = error or self.last_error
        if now >= self.deadline:
            last = f"; last try: {self.last_error}" if self.last_error else ""
            return GiveUp(
                f"session {self.label} is gone: the operator did not take it back within "
                f"{self.ttl:.0f} s (its unused TTL) of the drop ({self.cause}){last}"
            )
        self.attempt += 1
        pause = min(self.backoff.pause(self.attempt, chance=chance), self.deadline - now)
        line = self._line(now) if _worth_a_line(self.attempt) else None
        return Retry(self.attempt, pause, line)

    def refused(
        self, status: int, message: str, *, now: float, chance: float = 0.0
    ) -> Retry | GiveUp:
        """The operator answered an attempt with HTTP `status` and `message`."""
        if status == 410:
            return GiveUp(f"session {self.label} is gone (the operator answered 410: {message})")
        if status in FINAL_REFUSALS:
            return GiveUp(f"session {self.label} cannot be resumed ({status}: {message})")
        return self.next(now=now, chance=chance, error=f"{status}: {message}")

    def _line(self, now: float) -> str:
        left = max(0.0, self.deadline - now)
        return (
            f"lost the operator ({self.cause}); reconnecting (attempt {self.attempt}, "
            f"session {self.label} kept for up to {left:.0f} s)"
        )

    def resumed(self, *, now: float) -> str:
        return f"reconnected, session {self.label} resumed after {now - self.lost_at:.1f} s"


def _worth_a_line(attempt: int) -> bool:
    """Attempts 1, 2, 4, 8…: the user sees it is still trying without a line a second."""
    return attempt & (attempt - 1) == 0


# Stream ids the cluster side opens (even) start again on every link: the agent counts
# them per session, and a resumed session is a new one there. A resumed link's ids are
# shifted into a range of their own, so a frame of an old stream (an answer the app gave
# after the drop) can never reach a new stream that happens to reuse its number.
GENERATION_SPAN = 1 << 48


@dataclass(slots=True)
class LinkIds:
    """Local stream ids ⇄ the current link's ids. Odd ids are the client's own, drawn
    from one counter for the whole run, so they never repeat and pass as they are."""

    generation: int = 0

    def local(self, wire: StreamId) -> StreamId:
        if wire % 2 or not self.generation:
            return wire
        return StreamId(wire + self.generation * GENERATION_SPAN)

    def wire(self, local: StreamId) -> StreamId | None:
        """The id on the current link, or None for a stream of an earlier link."""
        if local % 2:
            return local
        if local // GENERATION_SPAN != self.generation:
            return None
        return StreamId(local - self.generation * GENERATION_SPAN)
