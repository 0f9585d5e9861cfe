"""The jail's tie to its `podtap exec`: it lives exactly as long as the client.

The jail holds the read end of a pipe whose write end only the client has (`--owner-fd`):
end of input there means the client is gone, even by SIGKILL. Then everything below the
jail (a child subreaper) is killed, and the client's temporary directory is removed
through a descriptor of its parent opened outside this mount namespace (`--cleanup-fd`)."""

from __future__ import annotations

import contextlib
import os
import select
import shutil
import signal
import threading
from dataclasses import dataclass, field
from pathlib import Path

from podtap.net.mounts import detach_mounts_under
from podtap.net.process import kill_descendants


@dataclass(frozen=True, slots=True, kw_only=True)
class Owner:
    """The `podtap exec` this jail belongs to: a pipe it never writes to, and a descriptor
    of the directory holding its temporary directory `temp_path`."""

    pipe: int
    cleanup_dir: int | None
    temp_path: Path
    _ending: threading.Lock = field(default_factory=threading.Lock)

    def watch(self) -> None:
        """From now on, the client's end (at any stage: setup may wait on it forever)
        kills everything below the jail, removes the client's directory and ends the jail."""
        threading.Thread(target=self._wait, name="owner watch", daemon=True).start()

    def _wait(self) -> None:
        with contextlib.suppress(OSError):
            while os.read(self.pipe, 4096):
                pass
        self.end_if_gone()

    def end_if_gone(self) -> None:
        """If the client is gone, clean up after it and exit (the command's end wakes the
        main thread too: whichever comes first does it, the other waits)."""
        with self._ending:
            if select.select([self.pipe], [], [], 0)[0]:  # readable, never written: EOF
                kill_descendants(os.getpid())
                if self.cleanup_dir is not None:
                    with contextlib.suppress(OSError):
                        # the jail's own mounts (file views, copies) live in it: EBUSY else
                        detach_mounts_under(self.temp_path)
                        shutil.rmtree(self.temp_path.name, dir_fd=self.cleanup_dir)
                os._exit(128 + signal.SIGKILL)
