"""Remote files for the jail: a snapshot of the target's files, read through the agent.

`feature.fs` (core/fs_rules.py) decides which trees are remote: the pod's hostname, its
service-account directory, the container's own mount points (ConfigMaps, Secrets, ...) and
the `read_only` paths. They are copied at start, within a size budget, and mounted
read-only on the same paths inside the jail; inside a tree, `not_found` paths are left out
and `local` ones are this machine's (bound into the copy when they exist here)."""

from __future__ import annotations

import os
import shutil
import stat
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from podtap.client.host.channel import ClientChannel
from podtap.core.fs_rules import Access, FsRules
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

MAX_FILES = 2000
MAX_BYTES = 64 * 1024 * 1024
CHUNK = 1024 * 1024


class SnapshotTooLarge(RuntimeError):
    pass


def _read(handle: int, offset: int, size: int) -> Callable[[RequestId], FileRead]:
    return lambda rid: FileRead(request=rid, handle=handle, offset=offset, size=size)


async def read_pod_file(
    channel: ClientChannel, path: str, *, limit: int = 1 << 20, into: Path | None = None
) -> bytes | None:
    """A file of the target container, up to `limit` bytes (None if it cannot be read);
    with `into`, written there instead (and b"" returned)."""
    opened = await channel.request(lambda rid: FileOpen(request=rid, path=path, flags=os.O_RDONLY))
    assert isinstance(opened, FileOpenResult)
    if opened.handle is None:
        return None
    handle, data, offset = opened.handle, bytearray(), 0
    out = open(into, "wb") if into is not None else None  # noqa: SIM115
    try:
        while offset < limit:
            chunk = await channel.request(_read(handle, offset, min(CHUNK, limit - offset)))
            assert isinstance(chunk, FileReadResult)
            if chunk.error is not None:
                return None
            if not chunk.data:
                break
            if out is not None:
                out.write(chunk.data)
            else:
                data += chunk.data
            offset += len(chunk.data)
    finally:
        if out is not None:
            out.close()
        await channel.send(FileClose(handle=handle))
    return bytes(data)


async def stat_pod_file(channel: ClientChannel, path: str) -> FileStatResult:
    reply = await channel.request(lambda rid: FileStat(request=rid, path=path))
    assert isinstance(reply, FileStatResult)
    return reply


@dataclass
class Copies:
    """What to mount in the jail, in order: (source here, target in the jail)."""

    binds: list[tuple[Path, str]] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)


class Snapshot:
    def __init__(
        self,
        channel: ClientChannel,
        dest: Path,
        rules: FsRules | None = None,
        *,
        max_files: int = MAX_FILES,
        max_bytes: int = MAX_BYTES,
    ) -> None:
        self.channel = channel
        self.dest = dest
        self.rules = rules or FsRules()
        self.max_files, self.max_bytes = max_files, max_bytes
        self.files = 0
        self.bytes = 0
        self._local: list[tuple[Path, str]] = []

    async def take(self, roots: list[str] | tuple[str, ...]) -> Copies:
        """Copy each remote tree (one over the budget is left out, with a warning).
        Binds of this machine's `local` paths into the copies come first: the jail binds
        the copies recursively."""
        copies = Copies()
        for remote in roots:
            local = self.dest / remote.lstrip("/")
            files, size, extra = self.files, self.bytes, len(self._local)
            try:
                copied = await self._copy(remote, local)
            except SnapshotTooLarge as exc:
                self.files, self.bytes = files, size
                del self._local[extra:]
                if local.is_dir() and not local.is_symlink():
                    shutil.rmtree(local)
                else:
                    local.unlink(missing_ok=True)
                copies.warnings.append(f"{exc}: {remote} is not remote in this run")
                continue
            if copied:
                copies.binds.append((local, remote))
        copies.binds[:0] = self._local
        return copies

    async def _copy(self, remote: str, local: Path) -> bool:
        info = (await stat_pod_file(self.channel, remote)).stat
        if info is None:
            return False
        if info.is_dir:
            local.mkdir(parents=True, exist_ok=True)
            reply = await self.channel.request(lambda rid: FileReadDir(request=rid, path=remote))
            assert isinstance(reply, FileReadDirResult)
            for entry in reply.entries:
                path = f"{remote.rstrip('/')}/{entry.name}"
                access = self.rules.access(path)
                if access is Access.REMOTE:
                    await self._copy(path, local / entry.name)
                elif access is Access.LOCAL and os.path.lexists(path):
                    here = Path(path)
                    if here.is_dir():
                        (local / entry.name).mkdir()
                    else:
                        (local / entry.name).touch()
                    self._local.append((here, str(local / entry.name)))
            return True
        if not stat.S_ISREG(info.mode):
            return False
        self.files += 1
        self.bytes += info.size
        if self.files > self.max_files or self.bytes > self.max_bytes:
            raise SnapshotTooLarge(
                f"the pod's files exceed the snapshot limit ({self.max_files} files, "
                f"{self.max_bytes >> 20} MiB)"
            )
        local.parent.mkdir(parents=True, exist_ok=True)
        limit = self.max_bytes - self.bytes + info.size
        if await read_pod_file(self.channel, remote, limit=limit, into=local) is None:
            local.unlink(missing_ok=True)
            return False
        local.chmod(info.mode & 0o777 | 0o400)
        return True
