"""What kubelet's probe workers decide (pure): thresholds, results, when a container is killed.

A container has up to three probes. kubelet's worker for each keeps a result: readiness
starts failing (the container is not ready until a probe succeeds), liveness and startup
succeed until told otherwise. `successThreshold` consecutive successes set the result to
success, `failureThreshold` consecutive failures to failure; a result between the two stays.
While a startup probe has not succeeded, the readiness and liveness workers wait; once it
has, it is not run again for that container's run. A failed liveness or startup result gets
the container killed (then restarted per restartPolicy), after which every worker starts
over with the new run. An HTTP answer counts as kubelet's `DoHTTPProbe` has it: 200 to 399
is success (a redirect not followed is success with a warning), anything else a failure.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Literal
from urllib.parse import urljoin

from podtap.backends.local.models import Probe

Kind = Literal["readiness", "liveness", "startup"]
LABEL: dict[Kind, str] = {"readiness": "Readiness", "liveness": "Liveness", "startup": "Startup"}
MAX_BODY = 10 * 1024  # bytes of an HTTP answer kubelet reads (its message quotes them)
MAX_REDIRECTS = 10


@dataclass(frozen=True, slots=True)
class Tally:
    """One worker's result and its run of consecutive outcomes."""

    ok: bool
    successes: int = 0
    failures: int = 0


def initial(kind: Kind) -> Tally:
    """The result before a probe ran: not ready; alive and started until shown otherwise
    (the started flag itself waits for a startup probe's success: see `started`)."""
    return Tally(ok=kind != "readiness")


def record(tally: Tally, *, ok: bool, probe: Probe) -> Tally:
    """The result after one more probe outcome."""
    if ok:
        runs = tally.successes + 1
        return Tally(ok=tally.ok or runs >= probe.success_threshold, successes=runs)
    runs = tally.failures + 1
    return Tally(ok=tally.ok and runs < probe.failure_threshold, failures=runs)


def kills(kind: Kind, tally: Tally) -> bool:
    """Whether this result gets the container killed and restarted."""
    return kind != "readiness" and not tally.ok


@dataclass(frozen=True, slots=True)
class RunState:
    """What the workers of one container know of its current run."""

    started_at: float | None = None  # of the run they probe; None: not running
    started: bool = False  # the startup probe succeeded (or there is none)
    ready: bool = False
    killed: bool = False  # liveness or startup failed: waiting for the next run


def new_run(*, started_at: float | None, has_startup: bool, has_readiness: bool) -> RunState:
    """A container's state when a run starts (or when it stopped: `started_at` None)."""
    if started_at is None:
        return RunState()
    return RunState(started_at=started_at, started=not has_startup, ready=not has_readiness)


def runs(kind: Kind, state: RunState) -> bool:
    """Whether a worker probes now: the container runs and was not killed; startup until it
    succeeded, the others only after."""
    if state.started_at is None or state.killed:
        return False
    return not state.started if kind == "startup" else state.started


def after(kind: Kind, state: RunState, tally: Tally) -> RunState:
    """The container's state once a worker has its new result."""
    if kills(kind, tally):
        return replace(state, killed=True, ready=False)
    if kind == "startup":
        return replace(state, started=tally.ok)
    if kind == "readiness":
        return replace(state, ready=tally.ok)
    return state


def ready(state: RunState) -> bool:
    return state.started_at is not None and state.started and state.ready and not state.killed


def http_outcome(status: int, body: bytes) -> tuple[bool, str]:
    """Success and kubelet's message for a final HTTP answer (a redirect here is one not
    followed: to another host, which kubelet does not follow)."""
    text = body[:MAX_BODY].decode(errors="replace")
    if 200 <= status < 300:
        return True, ""
    if 300 <= status < 400:
        return True, f"Probe terminated redirects, Response body: {text}"
    return False, f"HTTP probe failed with statuscode: {status}"


def redirect_target(*, location: str, host: str, port: int, scheme: str, path: str) -> str:
    """The absolute URL a `Location` points to, from a GET of scheme://host:port/path."""
    return urljoin(f"{scheme}://{_netloc(host, port)}{path}", location)


def _netloc(host: str, port: int) -> str:
    return f"[{host}]:{port}" if ":" in host else f"{host}:{port}"
