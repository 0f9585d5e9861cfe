"""Running helper programs (ip, nft, nsenter) and tying children to our lifetime."""

from __future__ import annotations

import asyncio
import contextlib
import ctypes
import os
import signal
import time
from collections.abc import Sequence
from dataclasses import dataclass

_PR_SET_PDEATHSIG = 1
_PR_SET_CHILD_SUBREAPER = 36
_libc = ctypes.CDLL(None, use_errno=True)


class CommandFailed(RuntimeError):
    """A helper program exited non-zero; the message carries its stderr."""

    def __init__(self, argv: Sequence[str], code: int, stderr: str) -> None:
        self.argv = list(argv)
        self.code = code
        self.stderr = stderr
        super().__init__(f"`{' '.join(argv)}` exited {code}: {stderr.strip()}")


@dataclass(frozen=True, slots=True)
class Completed:
    code: int
    stdout: str
    stderr: str


def die_with_parent() -> None:
    """preexec_fn: the child gets SIGKILL when the process that started it dies."""
    _libc.prctl(_PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0)


async def run(argv: Sequence[str], *, stdin: str | None = None, check: bool = True) -> Completed:
    """Run a helper program to completion and return its output."""
    proc = await asyncio.create_subprocess_exec(
        *argv,
        stdin=asyncio.subprocess.PIPE if stdin is not None else asyncio.subprocess.DEVNULL,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    out, err = await proc.communicate(stdin.encode() if stdin is not None else None)
    code = proc.returncode if proc.returncode is not None else -1
    done = Completed(code, out.decode(errors="replace"), err.decode(errors="replace"))
    if check and code != 0:
        raise CommandFailed(argv, code, done.stderr or done.stdout)
    return done


def start_time(pid: int) -> int | None:
    """When `pid` started (clock ticks since boot), None if it does not run: with the pid,
    it names a process even after the pid is reused."""
    try:
        with open(f"/proc/{pid}/stat", "rb") as fh:
            stat = fh.read()
    except OSError:
        return None
    fields = stat[stat.rfind(b")") + 2 :].split()
    return int(fields[19]) if len(fields) > 19 and fields[0] != b"Z" else None


def become_subreaper() -> None:
    """Orphans among our descendants are re-parented to us rather than to PID 1, so that
    `kill_descendants` still finds what a command started and left running."""
    _libc.prctl(_PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0)


def _live_parents() -> dict[int, int]:
    """pid -> parent pid of every process that is not a zombie (one scan of /proc)."""
    parents: dict[int, int] = {}
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/stat", "rb") as fh:
                stat = fh.read()
        except OSError:
            continue
        fields = stat[stat.rfind(b")") + 2 :].split()
        if len(fields) > 1 and fields[0] != b"Z":
            parents[int(entry)] = int(fields[1])
    return parents


def child_pids(pid: int) -> list[int]:
    """Direct children of `pid` (scans /proc: CONFIG_PROC_CHILDREN is often off)."""
    return [child for child, parent in _live_parents().items() if parent == pid]


def descendants(pid: int) -> list[int]:
    """Every live process below `pid`, parents before their children."""
    parents = _live_parents()
    found, frontier = [], [pid]
    while frontier:
        below = [c for c, p in parents.items() if p in frontier]
        found += below
        frontier = below
    return found


def kill_descendants(pid: int, *, timeout: float = 5.0) -> list[int]:
    """SIGKILL everything below `pid` until nothing is left (what is killed may fork
    meanwhile: scan again) or `timeout` passes; returns what is still alive."""
    deadline = time.monotonic() + timeout
    while (left := descendants(pid)) and time.monotonic() < deadline:
        for child in left:
            with contextlib.suppress(ProcessLookupError):
                os.kill(child, signal.SIGKILL)
        time.sleep(0.01)
    return left
