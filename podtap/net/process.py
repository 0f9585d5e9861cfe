"""Running helper programs (ip, nft, nsenter) and tying children to our lifetime."""

from __future__ import annotations

import asyncio
import ctypes
import signal
from collections.abc import Sequence
from dataclasses import dataclass

_PR_SET_PDEATHSIG = 1
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


def child_pids(pid: int) -> list[int]:
    """Direct children of `pid` (scans /proc: CONFIG_PROC_CHILDREN is often off)."""
    import os

    found: list[int] = []
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/stat", "rb") as fh:
                stat = fh.read()
        except OSError:
            continue
        fields = stat[stat.rfind(b")") + 2 :].split()
        if len(fields) > 1 and int(fields[1]) == pid:
            found.append(int(entry))
    return found
