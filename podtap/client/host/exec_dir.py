"""`podtap exec`'s temporary directory and the jail's tie to this process.

The jail removes the directory when this process dies (it watches a pipe only we write to,
see client/jail/owner.py). Should the jail die unclean too, the directory names its owner (pid and
start time), and the next `podtap exec` removes directories whose owner is gone."""

from __future__ import annotations

import contextlib
import os
import shutil
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from podtap.net.process import start_time

PREFIX = "podtap-exec-"
OWNER = "owner"


def _owner_alive(directory: Path) -> bool:
    try:
        pid, started = map(int, (directory / OWNER).read_text().split())
    except (OSError, ValueError):
        return True  # being set up by a running exec, or not ours to judge
    return start_time(pid) == started


def sweep_stale(root: Path | None = None) -> list[Path]:
    """Remove this user's exec directories whose owner no longer runs; returns them."""
    removed = []
    for directory in Path(root or tempfile.gettempdir()).glob(PREFIX + "*"):
        with contextlib.suppress(OSError):
            if directory.lstat().st_uid == os.geteuid() and not _owner_alive(directory):
                shutil.rmtree(directory)
                removed.append(directory)
    return removed


@dataclass(frozen=True, slots=True)
class JailTie:
    """What the jail gets (`argv`, `pass_fds`) to outlive us only long enough to clean up."""

    argv: list[str]
    pass_fds: tuple[int, ...]


@contextlib.contextmanager
def exec_dir() -> Iterator[tuple[Path, JailTie]]:
    """A fresh temporary directory, marked as ours, and the tie for the jail; both go when
    the context ends (the jail has ended by then)."""
    sweep_stale()
    with tempfile.TemporaryDirectory(prefix=PREFIX) as tmp:
        path = Path(tmp)
        (path / OWNER).write_text(f"{os.getpid()} {start_time(os.getpid())}")
        read, write = os.pipe()  # the write end is never written, nor inherited
        parent = os.open(path.parent, os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)
        try:
            argv = ["--owner-fd", str(read), "--cleanup-fd", str(parent)]
            yield path, JailTie(argv, (read, parent))
        finally:
            for fd in (read, write, parent):
                os.close(fd)
