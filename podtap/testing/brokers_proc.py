"""One broker process for tests: started in its own session on loopback, stopped by its pid.

Every broker the queue tests use (moto's SQS, RabbitMQ, Tansu's Kafka) runs the same way:
a child started with ``start_new_session`` (so its pid is also its session id, and every
helper it forks can be found and ended with it) and ``die_with_parent`` (a test runner
killed with SIGKILL takes it along), its output in a log file inside a private temporary
directory, readiness polled with a deadline. :meth:`BrokerProcess.stop` sends SIGTERM to
the pid, waits, then kills whatever is left of the session and removes the directory, so
nothing outlives the test: :func:`leftovers` says what would.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import socket
import subprocess
import tempfile
import threading
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import TypeVar

from podtap.net.namespaces import join_netns
from podtap.net.process import die_with_parent
from podtap.testing.wait import wait_until

__all__ = [
    "BrokerProcess",
    "free_port",
    "in_netns",
    "leftovers",
    "netns_argv",
    "port_open",
    "session_pids",
]

T = TypeVar("T")


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listens on now."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def port_open(port: int, *, host: str = "127.0.0.1") -> bool:
    """Whether something accepts TCP connections on ``host``:``port``."""
    with socket.socket() as sock:
        sock.settimeout(1.0)
        return sock.connect_ex((host, port)) == 0


def in_netns(netns: str | None, call: Callable[[], T]) -> T:
    """``call()`` in the network namespace at ``netns`` (``/proc/PID/ns/net``; ``None``:
    this one), on a thread of its own that joined it: every socket it (and the threads it
    starts, an event loop's resolver too) opens is in that namespace; this thread's are not."""
    if netns is None:
        return call()
    outcome: list[T] = []
    failed: list[BaseException] = []

    def run() -> None:
        try:
            join_netns(netns)
            outcome.append(call())
        except BaseException as exc:
            failed.append(exc)

    thread = threading.Thread(target=run, name=f"in {netns}")
    thread.start()
    thread.join()
    if failed:
        raise failed[0]
    return outcome[0]


def netns_argv(netns: str | None, argv: Sequence[str]) -> list[str]:
    """``argv`` run in the network namespace at ``netns`` (nsenter execs it: the pid we
    start is the program's, so its parent-death signal and our SIGTERM reach it)."""
    return list(argv) if netns is None else ["nsenter", f"--net={netns}", "--", *argv]


def session_pids(sid: int) -> list[int]:
    """The processes whose session is ``sid`` (a broker and every helper it forked)."""
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
        except OSError:
            continue
        fields = stat.rpartition(")")[2].split()
        if len(fields) > 3 and fields[0] != "Z" and int(fields[3]) == sid:
            found.append(int(entry.name))
    return found


def leftovers(*, pids: Sequence[int], ports: Sequence[int], paths: Sequence[Path]) -> list[str]:
    """What a stopped broker left behind: live processes of its sessions, ports, paths."""
    left = [f"process {p}" for sid in pids for p in session_pids(sid)]
    left += [f"port 127.0.0.1:{port}" for port in ports if port_open(port)]
    return left + [f"path {path}" for path in paths if path.exists()]


class BrokerProcess:
    """A broker's process, its temporary directory and its log (see the module's note)."""

    def __init__(self, name: str) -> None:
        self.name = name
        self.dir = Path(tempfile.mkdtemp(prefix=f"podtap-{name}-"))
        self.log = self.dir / f"{name}.log"
        self.proc: subprocess.Popen[bytes] | None = None

    @property
    def pid(self) -> int:
        assert self.proc is not None, f"{self.name} was not started"
        return self.proc.pid

    def start(self, argv: Sequence[str], *, env: Mapping[str, str] | None = None) -> None:
        with self.log.open("ab") as out:
            self.proc = subprocess.Popen(
                list(argv),
                env=dict(env) if env is not None else None,
                cwd=self.dir,
                stdin=subprocess.DEVNULL,
                stdout=out,
                stderr=subprocess.STDOUT,
                start_new_session=True,
                preexec_fn=die_with_parent,
            )

    def log_tail(self, lines: int = 15) -> str:
        with contextlib.suppress(OSError):
            return "\n".join(self.log.read_text(errors="replace").splitlines()[-lines:])
        return ""

    def wait_ready(self, ready: Callable[[], bool], *, timeout: float) -> None:
        """Poll ``ready`` until it is true; the broker exiting first is one clear error."""

        def check() -> bool:
            if self.proc is not None and self.proc.poll() is not None:
                raise RuntimeError(
                    f"{self.name} exited with {self.proc.returncode} before it was ready; "
                    f"its log ends:\n{self.log_tail()}"
                )
            return ready()

        try:
            wait_until(check, timeout=timeout, what=f"{self.name} to answer", interval=0.1)
        except AssertionError as exc:
            raise AssertionError(f"{exc}; its log ends:\n{self.log_tail()}") from None

    def stop(self, *, pid: int | None = None, timeout: float = 20.0, keep: bool = False) -> None:
        """SIGTERM to ``pid`` (default: the started process), wait, then end the session;
        ``keep``: keep the directory (its data), for a restart."""
        if self.proc is not None:
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid or self.proc.pid, signal.SIGTERM)
            try:
                self.proc.wait(timeout)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(5)
            sid = self.proc.pid
            wait_until(lambda: _end_session(sid), timeout=5, what=f"{self.name}'s helpers to end")
        if not keep:
            shutil.rmtree(self.dir, ignore_errors=True)


def _end_session(sid: int) -> bool:
    """SIGKILL what is left of session ``sid``; true once nothing is."""
    if not session_pids(sid):
        return True
    with contextlib.suppress(ProcessLookupError):
        os.killpg(sid, signal.SIGKILL)
    return False
