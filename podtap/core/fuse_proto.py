"""The kernel FUSE protocol, read-only subset (pure): parse requests read from /dev/fuse,
build replies to write back. Layouts from <linux/fuse.h> (protocol 7.31 answered)."""

from __future__ import annotations

import errno
import struct
from dataclasses import dataclass

LOOKUP, FORGET, GETATTR, READLINK = 1, 2, 3, 5
OPEN, READ, STATFS, RELEASE, FLUSH = 14, 15, 17, 18, 25
INIT, OPENDIR, READDIR, RELEASEDIR = 26, 27, 28, 29
ACCESS, INTERRUPT, DESTROY, BATCH_FORGET = 34, 36, 38, 42
#: Requests the kernel sends without waiting for an answer.
NO_REPLY = frozenset({FORGET, BATCH_FORGET, INTERRUPT})
#: Requests that change something: refused on this read-only view.
WRITES = frozenset({4, 6, 8, 9, 10, 11, 12, 13, 16, 21, 24, 35, 43, 45, 47})

MAJOR, MINOR = 7, 31
MAX_WRITE = 128 * 1024
BUFFER = MAX_WRITE + 64 * 1024  # a read of /dev/fuse must hold the largest request
DT_UNKNOWN, DT_DIR, DT_REG = 0, 4, 8

_IN = struct.Struct("<IIQQIIIHH")
_OUT = struct.Struct("<IiQ")
_ATTR = struct.Struct("<QQQQQQIIIIIIIIII")
_ENTRY = struct.Struct("<QQQQII")
_ATTR_OUT = struct.Struct("<QII")
_OPEN_OUT = struct.Struct("<QII")
_READ_IN = struct.Struct("<QQII")
_INIT_IN = struct.Struct("<IIII")
_INIT_OUT = struct.Struct("<IIIIHHIIHHII24x")
_DIRENT = struct.Struct("<QQII")
_STATFS = struct.Struct("<QQQQQIIII24x")


class ProtocolError(ValueError):
    pass


@dataclass(frozen=True, slots=True)
class Request:
    opcode: int
    unique: int
    nodeid: int
    uid: int
    gid: int
    pid: int
    body: bytes

    def name(self) -> str:
        """LOOKUP: the entry's name (bytes that are not UTF-8 as surrogate escapes)."""
        return self.body.split(b"\0", 1)[0].decode(errors="surrogateescape")

    def read_args(self) -> tuple[int, int, int]:
        """READ/READDIR: (fh, offset, size)."""
        fh, offset, size, _ = _READ_IN.unpack_from(self.body)
        return fh, offset, size

    def fh(self) -> int:
        """RELEASE/RELEASEDIR: the handle."""
        return int(struct.unpack_from("<Q", self.body)[0])

    def init_args(self) -> tuple[int, int, int]:
        """INIT: (major, minor, max_readahead)."""
        major, minor, readahead, _ = _INIT_IN.unpack_from(self.body)
        return major, minor, readahead


def parse(buffer: bytes) -> Request:
    if len(buffer) < _IN.size:
        raise ProtocolError(f"short request ({len(buffer)} bytes)")
    size, opcode, unique, nodeid, uid, gid, pid, _, _ = _IN.unpack_from(buffer)
    if size != len(buffer):
        raise ProtocolError(f"request says {size} bytes, read {len(buffer)}")
    return Request(opcode, unique, nodeid, uid, gid, pid, bytes(buffer[_IN.size :]))


def reply(unique: int, body: bytes = b"") -> bytes:
    return _OUT.pack(_OUT.size + len(body), 0, unique) + body


def error(unique: int, code: int) -> bytes:
    return _OUT.pack(_OUT.size, -code, unique)


@dataclass(frozen=True, slots=True)
class Attr:
    ino: int
    mode: int
    size: int
    mtime_ns: int
    uid: int = 0
    gid: int = 0

    def pack(self) -> bytes:
        sec, nsec = divmod(self.mtime_ns, 1_000_000_000)
        nlink = 2 if self.mode & 0o170000 == 0o040000 else 1
        blocks = (self.size + 511) // 512
        return _ATTR.pack(
            self.ino, self.size, blocks, sec, sec, sec, nsec, nsec, nsec,
            self.mode, nlink, self.uid, self.gid, 0, 4096, 0,
        )  # fmt: skip


def _timeout(seconds: float) -> tuple[int, int]:
    whole = int(seconds)
    return whole, int((seconds - whole) * 1e9)


def entry(unique: int, attr: Attr, *, timeout: float) -> bytes:
    sec, nsec = _timeout(timeout)
    return reply(unique, _ENTRY.pack(attr.ino, 0, sec, sec, nsec, nsec) + attr.pack())


def attr_reply(unique: int, attr: Attr, *, timeout: float) -> bytes:
    sec, nsec = _timeout(timeout)
    return reply(unique, _ATTR_OUT.pack(sec, nsec, 0) + attr.pack())


def opened(unique: int, fh: int) -> bytes:
    return reply(unique, _OPEN_OUT.pack(fh, 0, 0))


def init_reply(request: Request) -> bytes:
    major, _, readahead = request.init_args()
    if major < MAJOR:
        return error(request.unique, errno.EPROTO)
    body = _INIT_OUT.pack(MAJOR, MINOR, readahead, 0, 16, 12, MAX_WRITE, 1, 0, 0, 0, 0)
    return reply(request.unique, body)


def statfs_reply(unique: int) -> bytes:
    return reply(unique, _STATFS.pack(0, 0, 0, 0, 0, 4096, 255, 4096, 0))


def dirents(entries: list[tuple[int, str, int]], offset: int, size: int) -> bytes:
    """READDIR's answer: entries (ino, name, DT_ type) from index `offset`, as many as fit
    in `size` bytes; each carries the index of the next one."""
    out = bytearray()
    for index in range(offset, len(entries)):
        ino, name, kind = entries[index]
        raw = name.encode(errors="surrogateescape")
        record = _DIRENT.pack(ino, index + 1, len(raw), kind) + raw
        record += b"\0" * (-len(record) % 8)
        if len(out) + len(record) > size:
            break
        out += record
    return bytes(out)
