"""One container of a pod: a local process in the pod's namespaces, restarted with
back-off according to the pod's restart policy; output appended to its log file."""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from podtap.backends.local.capabilities import READ_ONLY_ROOT, Identity, setpriv_argv
from podtap.backends.local.sandbox import Sandbox
from podtap.net.process import child_pids, die_with_parent

BACKOFF_START = 0.5
BACKOFF_CAP = 10.0
STABLE_AFTER = 10.0
STOP_GRACE = 3.0  # the node's own cap on a container's time between SIGTERM and SIGKILL


@dataclass(slots=True)
class ContainerStatus:
    name: str
    state: str = "Waiting"  # Waiting | Running | Terminated
    reason: str = "ContainerCreating"
    restarts: int = 0
    exit_code: int | None = None
    started_at: float | None = None
    host_pid: int | None = None
    launcher_pid: int | None = field(default=None, repr=False)


class ContainerRunner:
    def __init__(
        self,
        *,
        name: str,
        argv: list[str],
        env: dict[str, str],
        workdir: str | None,
        sandbox: Sandbox,
        identity: Identity,
        log_path: Path,
        restart_policy: str,
        on_change: Callable[[], None],
    ) -> None:
        self.status = ContainerStatus(name)
        self._argv, self._env, self._workdir = argv, env, workdir
        self._sandbox, self._log_path = sandbox, log_path
        self._identity = identity
        self._policy, self._on_change = restart_policy, on_change
        self._stopping = False
        self._proc: asyncio.subprocess.Process | None = None

    @property
    def running(self) -> bool:
        return self.status.state == "Running"

    def pid(self) -> int | None:
        """Host pid of the container's main process (the child of nsenter)."""
        s = self.status
        if s.host_pid is None and s.launcher_pid is not None and self.running:
            kids = child_pids(s.launcher_pid)
            s.host_pid = kids[0] if kids else None
        return s.host_pid

    def enter_argv(self, *, workdir: str | None = None) -> list[str]:
        """The command-line prefix that runs a program as this container's process (its
        pod's namespaces, its capabilities and user): for it, `kubectl exec`, exec probes."""
        ro = READ_ONLY_ROOT if self._identity.read_only_root else []
        return [*self._sandbox.enter_argv(workdir=workdir), *ro, *setpriv_argv(self._identity)]

    async def run(self) -> None:
        delay = BACKOFF_START
        while not self._stopping:
            started = time.monotonic()
            code = await self._run_once()
            if self._stopping:
                return
            self.status.state, self.status.exit_code = "Terminated", code
            self.status.reason = "Completed" if code == 0 else "Error"
            self._on_change()
            if self._policy == "Never" or (self._policy == "OnFailure" and code == 0):
                return
            if time.monotonic() - started > STABLE_AFTER:
                delay = BACKOFF_START
            self.status.reason = "CrashLoopBackOff" if code != 0 else "Completed"
            await asyncio.sleep(delay)
            delay = min(delay * 2, BACKOFF_CAP)
            self.status.restarts += 1

    async def _run_once(self) -> int:
        self._log_path.parent.mkdir(parents=True, exist_ok=True)
        with open(self._log_path, "ab") as log:
            try:
                proc = await asyncio.create_subprocess_exec(
                    *self.enter_argv(workdir=self._workdir),
                    *self._argv,
                    env=self._env,
                    stdin=asyncio.subprocess.DEVNULL,
                    stdout=log,
                    stderr=log,
                    preexec_fn=die_with_parent,
                    start_new_session=True,
                )
            except OSError as exc:
                log.write(f"podtap: cannot start container: {exc}\n".encode())
                return 127
        s = self.status
        s.state, s.reason, s.started_at = "Running", "", time.time()
        s.launcher_pid, s.host_pid, s.exit_code = proc.pid, None, None
        self._proc = proc
        self._on_change()
        try:
            return await proc.wait()
        finally:
            s.launcher_pid = s.host_pid = None
            self._proc = None

    async def stop(self, *, grace: float = STOP_GRACE) -> None:
        """SIGTERM the container's main process (as Kubernetes does), SIGKILL its whole
        process group after `grace` seconds."""
        self._stopping = True
        proc, pid = self._proc, self.pid()
        if proc is None:
            return
        with contextlib.suppress(ProcessLookupError):
            if pid is not None:
                os.kill(pid, signal.SIGTERM)
            else:
                proc.send_signal(signal.SIGTERM)
        try:
            await asyncio.wait_for(asyncio.shield(proc.wait()), grace)
        except TimeoutError:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(proc.pid, signal.SIGKILL)
            await proc.wait()
