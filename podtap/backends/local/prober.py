"""kubelet's probe workers for one container: a task per probe, each at its own period.

The decisions are `probes`' (pure); here they meet the clock, the container's process and
the API: a worker waits `initialDelaySeconds` from the start of each run of the container,
runs its action every `periodSeconds`, and on a failed liveness or startup result kills the
container (SIGTERM, SIGKILL after the grace) so that its runner starts it again per the
pod's restartPolicy. kubelet's events are reported through `report`: `Unhealthy` (Warning)
at the first failure of a run of them, `Killing` when the container is killed for it.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import time
from collections.abc import Callable

from podtap.backends.local import probe_actions, probes
from podtap.backends.local.container import ContainerRunner
from podtap.backends.local.models import Container, Probe
from podtap.net.tasks import TaskSet

KILL_GRACE = 3.0  # seconds from SIGTERM to SIGKILL, as the runner's own stop
IDLE = 0.1  # seconds between looks while a worker waits for a run, or for the startup probe
Report = Callable[[str, str, bool], None]  # reason, message, is a warning


class ContainerProber:
    """The probe workers of one container and what they found of its current run."""

    def __init__(
        self,
        spec: Container,
        runner: ContainerRunner,
        *,
        ip: str,
        on_change: Callable[[], None],
        report: Report,
    ) -> None:
        self.spec, self.runner, self.ip = spec, runner, ip
        self._on_change, self._report = on_change, report
        self.state = probes.RunState()
        found: list[tuple[probes.Kind, Probe | None]] = [
            ("startup", spec.startup_probe),
            ("liveness", spec.liveness_probe),
            ("readiness", spec.readiness_probe),
        ]
        self._probes = {kind: probe for kind, probe in found if probe is not None}

    def start(self, tasks: TaskSet, *, name: str) -> None:
        for kind, probe in self._probes.items():
            tasks.spawn(self._work(kind, probe), name=f"{name} {kind} probe")

    def current(self) -> probes.RunState:
        """The state of the container's current run (a new run starts afresh)."""
        st = self.runner.status
        started_at = st.started_at if self.runner.running else None
        if started_at != self.state.started_at:
            self.state = probes.new_run(
                started_at=started_at,
                has_startup="startup" in self._probes,
                has_readiness="readiness" in self._probes,
            )
        return self.state

    @property
    def ready(self) -> bool:
        return probes.ready(self.current())

    @property
    def started(self) -> bool:
        state = self.current()
        return state.started_at is not None and state.started

    async def _work(self, kind: probes.Kind, probe: Probe) -> None:
        tally, run = probes.initial(kind), None
        while True:
            state = self.current()
            if state.started_at != run:
                tally, run = probes.initial(kind), state.started_at
            if not probes.runs(kind, state):
                await asyncio.sleep(IDLE)
                continue
            assert state.started_at is not None
            wait = state.started_at + probe.initial_delay_seconds - time.time()
            if wait > 0:
                await asyncio.sleep(min(wait, IDLE))
                continue
            tally = await self._once(kind, probe, tally)
            await asyncio.sleep(probe.period_seconds)

    async def _once(self, kind: probes.Kind, probe: Probe, tally: probes.Tally) -> probes.Tally:
        ok, message = await probe_actions.run(
            probe, container=self.spec, ip=self.ip, enter_argv=self.runner.enter_argv()
        )
        before = self.current()
        if before.started_at is None or before.killed:
            return tally  # the run ended while probing: its answer is moot
        tally = probes.record(tally, ok=ok, probe=probe)
        if not ok and tally.failures == 1:
            self._report("Unhealthy", f"{probes.LABEL[kind]} probe failed: {message}", True)
        self.state = probes.after(kind, before, tally)
        if self.state != before:
            self._on_change()
        if probes.kills(kind, tally):
            self._report(
                "Killing",
                f"Container {self.spec.name} failed {kind} probe, will be restarted",
                False,
            )
            await self._kill(before.started_at)
        return tally

    async def _kill(self, run: float) -> None:
        """Stop the container's process of run `run`; its runner starts the next one."""
        pid, group = self.runner.pid(), self.runner.status.launcher_pid
        with contextlib.suppress(ProcessLookupError):
            if pid is not None:
                os.kill(pid, signal.SIGTERM)
        for _ in range(round(KILL_GRACE / IDLE)):
            if not self._same_run(run):
                return
            await asyncio.sleep(IDLE)
        if self._same_run(run) and group is not None:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(group, signal.SIGKILL)

    def _same_run(self, run: float) -> bool:
        return self.runner.running and self.runner.status.started_at == run
