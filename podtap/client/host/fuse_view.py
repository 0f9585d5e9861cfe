"""A live, read-only FUSE view of a remote tree, served by `podtap exec` itself.

The jail mounts FUSE on each remote tree (its own /dev/fuse descriptor, opened inside
the jail's user namespace) and hands the descriptors here over a socket pair
(SCM_RIGHTS). Each kernel request is answered from the agent's file requests (`feature.fs`
rules applied per path: `not_found` is ENOENT, `local` is this machine's file); anything
that would write is refused with EROFS, unknown requests with ENOSYS."""

from __future__ import annotations

import asyncio
import contextlib
import errno
import os
import socket
import stat
from collections.abc import Callable

from podtap.client.host.channel import ClientChannel
from podtap.client.host.files import stat_pod_file
from podtap.core import fuse_proto as fp
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
)
from podtap.net.tasks import TaskSet

TIMEOUT = 1.0  # seconds the kernel may keep names and attributes


class _Failed(Exception):
    def __init__(self, code: int) -> None:
        self.code = code


def fuse_usable() -> bool:
    """Whether this user may open /dev/fuse (the jail's root maps to this user)."""
    try:
        os.close(os.open("/dev/fuse", os.O_RDWR))
    except OSError:
        return False
    return True


def _read(handle: int, offset: int, size: int) -> Callable[[RequestId], FileRead]:
    return lambda rid: FileRead(request=rid, handle=handle, offset=offset, size=size)


class FuseView:
    def __init__(self, channel: ClientChannel, fd: int, root: str, rules: FsRules) -> None:
        self.channel, self.fd, self.rules = channel, fd, rules
        self.paths: dict[int, str] = {1: root}
        self.ids: dict[str, int] = {root: 1}
        self.handles: dict[int, tuple[str, int]] = {}  # fh → ("remote"|"local", handle)
        self.listings: dict[int, list[tuple[int, str, int]]] = {}
        self._next = 2
        self._tasks = TaskSet()
        self._closed = asyncio.Event()

    # ------------------------------------------------------------------ plumbing
    async def run(self) -> None:
        """Serve until the mount is gone (the jail ended) or `close()`."""
        os.set_blocking(self.fd, False)
        loop = asyncio.get_running_loop()
        loop.add_reader(self.fd, self._readable)
        try:
            await self._closed.wait()
        finally:
            loop.remove_reader(self.fd)
            await self._tasks.close()
            for kind, handle in self.handles.values():
                if kind == "local":
                    os.close(handle)
            os.close(self.fd)  # aborts anything still waiting in the kernel

    def close(self) -> None:
        self._closed.set()

    def _readable(self) -> None:
        try:
            data = os.read(self.fd, fp.BUFFER)
        except BlockingIOError:
            return
        except OSError as exc:  # ENODEV: unmounted
            if exc.errno not in (errno.ENOENT, errno.EINTR):  # ENOENT: request interrupted
                self._closed.set()
            return
        request = fp.parse(data)
        if request.opcode in fp.NO_REPLY:  # FORGET: ids stay stable per path, kept
            return
        self._tasks.spawn(self._answer(request), name=f"fuse op {request.opcode}")

    def _send(self, data: bytes) -> None:
        with contextlib.suppress(OSError):  # ENOENT: the caller was interrupted
            os.write(self.fd, data)

    async def _answer(self, request: fp.Request) -> None:
        try:
            answer = await self._dispatch(request)
        except _Failed as failed:
            answer = fp.error(request.unique, failed.code)
        if request.opcode != fp.DESTROY:
            self._send(answer)

    # ------------------------------------------------------------------ files
    def _id(self, path: str) -> int:
        if path not in self.ids:
            self.ids[path] = self._next
            self.paths[self._next] = path
            self._next += 1
        return self.ids[path]

    def _path(self, nodeid: int) -> str:
        if nodeid not in self.paths:
            raise _Failed(errno.ESTALE)
        return self.paths[nodeid]

    async def _attr(self, path: str) -> fp.Attr:
        if path != self.paths[1] and self.rules.access(path) is Access.NOT_FOUND:
            raise _Failed(errno.ENOENT)
        if path != self.paths[1] and self.rules.access(path) is Access.LOCAL:
            try:
                here = os.stat(path)
            except OSError as exc:
                raise _Failed(exc.errno or errno.ENOENT) from None
            return fp.Attr(
                self._id(path), here.st_mode, here.st_size, here.st_mtime_ns,
                here.st_uid, here.st_gid,
            )  # fmt: skip
        reply = await stat_pod_file(self.channel, path)
        info = reply.stat
        if info is None:
            raise _Failed(reply.error.errno if reply.error else errno.ENOENT)
        mode = info.mode & ~0o222  # read-only view
        return fp.Attr(self._id(path), mode, info.size, info.mtime_ns, info.uid, info.gid)

    async def _listing(self, path: str) -> list[tuple[int, str, int]]:
        reply = await self.channel.request(lambda rid: FileReadDir(request=rid, path=path))
        assert isinstance(reply, FileReadDirResult)
        if reply.error is not None:
            raise _Failed(reply.error.errno)
        out: list[tuple[int, str, int]] = []
        for item in sorted(reply.entries, key=lambda e: e.name):
            child = f"{path.rstrip('/')}/{item.name}"
            access = self.rules.access(child)
            if access is Access.NOT_FOUND or (
                access is Access.LOCAL and not os.path.lexists(child)
            ):
                continue
            kind = fp.DT_DIR if item.is_dir else fp.DT_UNKNOWN if item.is_link else fp.DT_REG
            out.append((self._id(child), item.name, kind))
        return out

    async def _dispatch(self, request: fp.Request) -> bytes:
        op, unique = request.opcode, request.unique
        if op == fp.INIT:
            return fp.init_reply(request)
        if op == fp.LOOKUP:
            path = f"{self._path(request.nodeid).rstrip('/')}/{request.name()}"
            return fp.entry(unique, await self._attr(path), timeout=TIMEOUT)
        if op == fp.GETATTR:
            attr = await self._attr(self._path(request.nodeid))
            return fp.attr_reply(unique, attr, timeout=TIMEOUT)
        if op == fp.OPEN:
            return fp.opened(unique, await self._open(self._path(request.nodeid)))
        if op == fp.READ:
            fh, offset, size = request.read_args()
            return fp.reply(unique, await self._pread(fh, offset, size))
        if op in (fp.RELEASE, fp.RELEASEDIR):
            await self._release(request.fh())
            return fp.reply(unique)
        if op == fp.OPENDIR:
            fh = self._next_fh()
            self.listings[fh] = await self._listing(self._path(request.nodeid))
            return fp.opened(unique, fh)
        if op == fp.READDIR:
            fh, offset, size = request.read_args()
            return fp.reply(unique, fp.dirents(self.listings.get(fh, []), offset, size))
        if op == fp.STATFS:
            return fp.statfs_reply(unique)
        if op in (fp.FLUSH, fp.DESTROY):
            return fp.reply(unique)
        if op in fp.WRITES:
            raise _Failed(errno.EROFS)
        raise _Failed(errno.ENOSYS)  # ACCESS, xattrs, READLINK (links are followed), ...

    def _next_fh(self) -> int:
        self._next += 1
        return self._next

    async def _open(self, path: str) -> int:
        fh = self._next_fh()
        if self.rules.access(path) is Access.LOCAL and path != self.paths[1]:
            try:
                self.handles[fh] = ("local", os.open(path, os.O_RDONLY))
            except OSError as exc:
                raise _Failed(exc.errno or errno.EIO) from None
            return fh
        reply = await self.channel.request(
            lambda rid: FileOpen(request=rid, path=path, flags=os.O_RDONLY)
        )
        assert isinstance(reply, FileOpenResult)
        if reply.handle is None:
            raise _Failed(reply.error.errno if reply.error else errno.EIO)
        self.handles[fh] = ("remote", reply.handle)
        return fh

    async def _pread(self, fh: int, offset: int, size: int) -> bytes:
        if fh not in self.handles:
            raise _Failed(errno.EBADF)
        kind, handle = self.handles[fh]
        if kind == "local":
            return os.pread(handle, size, offset)
        reply = await self.channel.request(_read(handle, offset, size))
        assert isinstance(reply, FileReadResult)
        if reply.error is not None:
            raise _Failed(reply.error.errno)
        return reply.data

    async def _release(self, fh: int) -> None:
        self.listings.pop(fh, None)
        kind, handle = self.handles.pop(fh, ("", -1))
        if kind == "local":
            os.close(handle)
        elif kind == "remote":
            await self.channel.send(FileClose(handle=handle))


async def view_roots(channel: ClientChannel, roots: tuple[str, ...]) -> list[tuple[bool, str]]:
    """(is_dir, path) of each remote tree that exists as a directory or a regular file."""
    out = []
    for path in roots:
        info = (await stat_pod_file(channel, path)).stat
        if info is not None and (info.is_dir or stat.S_ISREG(info.mode)):
            out.append((info.is_dir, path))
    return out


class Views:
    """`podtap exec`'s side of the FUSE views: the jail's options, then serving the
    descriptors the jail sends back until the run ends (cancelled)."""

    def __init__(self, channel: ClientChannel, rules: FsRules, roots: list[tuple[bool, str]]):
        self.channel, self.rules, self.roots = channel, rules, roots
        self._ours, self._theirs = socket.socketpair()
        self.pass_fds = (self._theirs.fileno(),)
        self.argv = ["--fuse-sock", str(self._theirs.fileno())]
        for is_dir, path in roots:
            self.argv += ["--fuse", f"{'d' if is_dir else 'f'}:{path}"]

    async def serve(self) -> None:
        """Call once the jail started (our copy of its end is closed here)."""
        self._theirs.close()
        loop = asyncio.get_running_loop()
        ready = asyncio.Event()
        loop.add_reader(self._ours.fileno(), ready.set)
        tasks = TaskSet()
        views: list[FuseView] = []
        try:
            await ready.wait()
            loop.remove_reader(self._ours.fileno())
            _, fds, _, _ = socket.recv_fds(self._ours, 16, len(self.roots) or 1)
            for fd, (_, path) in zip(fds, self.roots, strict=False):
                views.append(FuseView(self.channel, fd, path, self.rules))
                tasks.spawn(views[-1].run(), name=f"fuse view {path}")
            await asyncio.Event().wait()  # until cancelled
        finally:
            loop.remove_reader(self._ours.fileno())
            for view in views:
                view.close()
            await tasks.close()
            self._ours.close()
