"""Remote files for the jail: a snapshot of the pod's own volumes, read through the agent.

`/dev/fuse` would allow a live view; this first version copies the files of the
container's mount points (ConfigMaps, Secrets, hostname, ...) at start and mounts them
read-only on the same paths inside the jail."""

from __future__ import annotations

import os
import stat
from collections.abc import Callable
from pathlib import Path

from podtap.client.channel import ClientChannel
from podtap.core.ids import RequestId
from podtap.core.protocol import (
    FileClose,
    FileOpen,
    FileOpenResult,
    FileRead,
    FileReadDir,
    FileReadDirResult,
    FileReadResult,
    FileStat,
    FileStatResult,
)

SKIP = ("/etc/resolv.conf", "/etc/hosts")  # the jail brings its own
MAX_FILES = 2000
MAX_BYTES = 64 * 1024 * 1024
CHUNK = 1024 * 1024


class SnapshotTooLarge(RuntimeError):
    pass


def _read(handle: int, offset: int) -> Callable[[RequestId], FileRead]:
    return lambda rid: FileRead(rid, handle, offset, CHUNK)


class Snapshot:
    def __init__(self, channel: ClientChannel, dest: Path) -> None:
        self.channel = channel
        self.dest = dest
        self.files = 0
        self.bytes = 0

    async def take(self, paths: list[str]) -> list[tuple[Path, str]]:
        """Copy each remote path; returns (local copy, remote path) pairs to mount."""
        out = []
        for remote in paths:
            if remote in SKIP:
                continue
            local = self.dest / remote.lstrip("/")
            if await self._copy(remote, local):
                out.append((local, remote))
        return out

    async def _stat(self, path: str) -> FileStatResult:
        reply = await self.channel.request(lambda rid: FileStat(rid, path))
        assert isinstance(reply, FileStatResult)
        return reply

    async def _copy(self, remote: str, local: Path) -> bool:
        info = (await self._stat(remote)).stat
        if info is None:
            return False
        if info.is_dir:
            local.mkdir(parents=True, exist_ok=True)
            reply = await self.channel.request(lambda rid: FileReadDir(rid, remote))
            assert isinstance(reply, FileReadDirResult)
            for entry in reply.entries:
                await self._copy(f"{remote.rstrip('/')}/{entry.name}", local / entry.name)
            return True
        if not stat.S_ISREG(info.mode):
            return False
        self.files += 1
        self.bytes += info.size
        if self.files > MAX_FILES or self.bytes > MAX_BYTES:
            raise SnapshotTooLarge(
                f"the pod's files under {remote} exceed the snapshot limit "
                f"({MAX_FILES} files, {MAX_BYTES >> 20} MiB)"
            )
        opened = await self.channel.request(lambda rid: FileOpen(rid, remote, os.O_RDONLY))
        assert isinstance(opened, FileOpenResult)
        if opened.handle is None:
            return False
        local.parent.mkdir(parents=True, exist_ok=True)
        handle, offset = opened.handle, 0
        with open(local, "wb") as out:
            while True:
                chunk = await self.channel.request(_read(handle, offset))
                assert isinstance(chunk, FileReadResult)
                if not chunk.data:
                    break
                out.write(chunk.data)
                offset += len(chunk.data)
        await self.channel.send(FileClose(handle))
        local.chmod(info.mode & 0o777 | 0o400)
        return True
