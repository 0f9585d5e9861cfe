"""Files family: read access to the target container's filesystem.

Paths and names are ``str``; bytes that are not UTF-8 travel as surrogate escapes, the
``os.fsdecode`` convention, so any Linux file name round-trips.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

from podtap.core.ids import RequestId


@dataclass(frozen=True, slots=True, kw_only=True)
class FsError:
    """A failed file operation: ``errno`` (Linux numbering) and its text."""

    errno: int
    message: str


@dataclass(frozen=True, slots=True, kw_only=True)
class StatInfo:
    mode: int
    size: int
    mtime_ns: int
    is_dir: bool
    is_link: bool
    uid: int = 0
    gid: int = 0


@dataclass(frozen=True, slots=True, kw_only=True)
class DirEntry:
    name: str
    is_dir: bool
    is_link: bool


@dataclass(frozen=True, slots=True, kw_only=True)
class FileOpen:
    """Open ``path`` with ``os.open`` ``flags`` (Linux values)."""

    TAG: ClassVar[str] = "file_open"
    request: RequestId
    path: str
    flags: int


@dataclass(frozen=True, slots=True, kw_only=True)
class FileOpenResult:
    TAG: ClassVar[str] = "file_open_result"
    request: RequestId
    handle: int | None = None
    error: FsError | None = None


@dataclass(frozen=True, slots=True, kw_only=True)
class FileRead:
    TAG: ClassVar[str] = "file_read"
    request: RequestId
    handle: int
    offset: int
    size: int


@dataclass(frozen=True, slots=True, kw_only=True)
class FileReadResult:
    """The bytes read; empty ``data`` without error means end of file."""

    TAG: ClassVar[str] = "file_read_result"
    request: RequestId
    data: bytes = b""
    error: FsError | None = None


@dataclass(frozen=True, slots=True, kw_only=True)
class FileStat:
    TAG: ClassVar[str] = "file_stat"
    request: RequestId
    path: str
    follow_symlinks: bool = True


@dataclass(frozen=True, slots=True, kw_only=True)
class FileStatResult:
    TAG: ClassVar[str] = "file_stat_result"
    request: RequestId
    stat: StatInfo | None = None
    error: FsError | None = None


@dataclass(frozen=True, slots=True, kw_only=True)
class FileReadDir:
    TAG: ClassVar[str] = "file_readdir"
    request: RequestId
    path: str


@dataclass(frozen=True, slots=True, kw_only=True)
class FileReadDirResult:
    TAG: ClassVar[str] = "file_readdir_result"
    request: RequestId
    entries: tuple[DirEntry, ...] = ()
    error: FsError | None = None


@dataclass(frozen=True, slots=True, kw_only=True)
class FileClose:
    """Release ``handle``; no answer is sent."""

    TAG: ClassVar[str] = "file_close"
    handle: int
