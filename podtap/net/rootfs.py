"""Reading a container's files through /proc/PID/root without ever leaving that root.

Paths are resolved by the kernel with openat2(RESOLVE_IN_ROOT): `..` and absolute symlinks
stop at the container's root, as they would inside the container; magic links are
refused. Handles are plain file descriptors owned by a `RootFs`."""

from __future__ import annotations

import ctypes
import os
import stat as stat_mod
from dataclasses import dataclass

_SYS_OPENAT2 = 437  # x86_64 and aarch64 share this number
RESOLVE_NO_MAGICLINKS = 0x02
RESOLVE_IN_ROOT = 0x10
MAX_READ = 1 << 20


class _OpenHow(ctypes.Structure):
    _fields_ = [("flags", ctypes.c_uint64), ("mode", ctypes.c_uint64), ("resolve", ctypes.c_uint64)]


_libc = ctypes.CDLL(None, use_errno=True)
_libc.syscall.restype = ctypes.c_long


@dataclass(frozen=True, slots=True)
class FileStat:
    mode: int
    size: int
    mtime: float
    is_dir: bool
    is_link: bool
    uid: int
    gid: int


class RootFs:
    def __init__(self, root: str, *, max_open: int = 256) -> None:
        self._root_fd = os.open(root, os.O_PATH | os.O_DIRECTORY)
        self._handles: dict[int, int] = {}
        self._next = 1
        self._max_open = max_open

    def _openat2(self, path: str, flags: int) -> int:
        depth = 0
        for part in path.split("/"):
            depth += -1 if part == ".." else (0 if part in ("", ".") else 1)
            if depth < 0:
                raise PermissionError(13, "path escapes the container's root", path)
        how = _OpenHow(flags | os.O_CLOEXEC, 0, RESOLVE_IN_ROOT | RESOLVE_NO_MAGICLINKS)
        fd = _libc.syscall(
            _SYS_OPENAT2, self._root_fd, path.encode(), ctypes.byref(how), ctypes.sizeof(how)
        )
        if fd < 0:
            err = ctypes.get_errno()
            raise OSError(err, os.strerror(err), path)
        return int(fd)

    def open(self, path: str) -> int:
        """Open a file or directory read-only; returns a handle for read/readdir/close."""
        if len(self._handles) >= self._max_open:
            raise OSError(24, "too many files open for this session", path)
        fd = self._openat2(path, os.O_RDONLY)
        handle, self._next = self._next, self._next + 1
        self._handles[handle] = fd
        return handle

    def _fd(self, handle: int) -> int:
        try:
            return self._handles[handle]
        except KeyError:
            raise OSError(9, "bad file handle", str(handle)) from None

    def read(self, handle: int, *, offset: int, size: int) -> bytes:
        return os.pread(self._fd(handle), min(size, MAX_READ), offset)

    def stat(self, path: str, *, follow: bool = True) -> FileStat:
        fd = self._openat2(path, os.O_PATH | (0 if follow else os.O_NOFOLLOW))
        try:
            st = os.fstat(fd)
        finally:
            os.close(fd)
        return FileStat(
            st.st_mode,
            st.st_size,
            st.st_mtime,
            stat_mod.S_ISDIR(st.st_mode),
            stat_mod.S_ISLNK(st.st_mode),
            st.st_uid,
            st.st_gid,
        )

    def readdir(self, path: str) -> list[str]:
        fd = self._openat2(path, os.O_RDONLY | os.O_DIRECTORY)
        try:
            return sorted(os.listdir(fd))
        finally:
            os.close(fd)

    def read_file(self, path: str, *, limit: int = MAX_READ) -> bytes:
        fd = self._openat2(path, os.O_RDONLY)
        try:
            return os.read(fd, limit)
        finally:
            os.close(fd)

    def close_handle(self, handle: int) -> None:
        os.close(self._handles.pop(handle))

    def close(self) -> None:
        for fd in self._handles.values():
            os.close(fd)
        self._handles.clear()
        os.close(self._root_fd)
