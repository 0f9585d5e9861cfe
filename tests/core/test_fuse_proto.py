"""The FUSE wire codec (pure): request parsing and reply layouts of <linux/fuse.h>."""

from __future__ import annotations

import errno
import struct

import pytest

from podtap.core import fuse_proto as fp


def request(opcode: int, body: bytes, *, unique: int = 7, nodeid: int = 1) -> bytes:
    return struct.pack("<IIQQIIIHH", 40 + len(body), opcode, unique, nodeid, 0, 0, 1, 0, 0) + body


def test_parse_lookup_and_read_arguments() -> None:
    lookup = fp.parse(request(fp.LOOKUP, b"caf\xe9.txt\0", nodeid=5))
    assert (lookup.opcode, lookup.unique, lookup.nodeid) == (fp.LOOKUP, 7, 5)
    assert lookup.name() == "caf\udce9.txt"
    read = fp.parse(request(fp.READ, struct.pack("<QQIIQII", 9, 4096, 512, 0, 0, 0, 0)))
    assert read.read_args() == (9, 4096, 512)


def test_malformed_requests_are_refused() -> None:
    with pytest.raises(fp.ProtocolError):
        fp.parse(b"\0" * 10)
    with pytest.raises(fp.ProtocolError):
        fp.parse(request(fp.LOOKUP, b"x\0")[:-1])


def test_init_answers_7_31_and_refuses_an_old_kernel() -> None:
    answer = fp.init_reply(fp.parse(request(fp.INIT, struct.pack("<IIII", 7, 45, 131072, 0))))
    size, err, unique = struct.unpack_from("<IiQ", answer)
    assert (size, err, unique, len(answer)) == (16 + 64, 0, 7, 80)
    assert struct.unpack_from("<III", answer, 16) == (7, 31, 131072)
    old = fp.init_reply(fp.parse(request(fp.INIT, struct.pack("<IIII", 6, 0, 0, 0))))
    assert struct.unpack("<IiQ", old) == (16, -errno.EPROTO, 7)


def test_entry_and_attr_layouts() -> None:
    attr = fp.Attr(ino=3, mode=0o100444, size=1000, mtime_ns=5_250_000_000, uid=1, gid=2)
    entry = fp.entry(9, attr, timeout=1.5)
    assert len(entry) == 16 + 40 + 88
    assert struct.unpack_from("<QQQQII", entry, 16) == (3, 0, 1, 1, 500_000_000, 500_000_000)
    fields = struct.unpack_from("<QQQQQQIIIIIIIIII", entry, 56)
    assert fields[:5] == (3, 1000, 2, 5, 5) and fields[7] == 250_000_000
    assert fields[9:13] == (0o100444, 1, 1, 2)
    assert len(fp.attr_reply(9, attr, timeout=1)) == 16 + 16 + 88
    assert len(fp.statfs_reply(9)) == 16 + 80
    assert struct.unpack(fp._OPEN_OUT.format, fp.opened(9, 44)[16:]) == (44, 0, 0)


def test_dirents_are_aligned_and_resume_where_the_buffer_ended() -> None:
    entries = [(2, "a", fp.DT_REG), (3, "long-name", fp.DT_DIR), (4, "c", fp.DT_REG)]
    first = fp.dirents(entries, 0, 24 + 8 + 24 + 16)  # "a" and "long-name" fit, "c" not
    assert len(first) == 72 and len(first) % 8 == 0
    assert struct.unpack_from("<QQII", first, 32) == (3, 2, 9, fp.DT_DIR)
    assert first[56:65] == b"long-name"
    rest = fp.dirents(entries, 2, 4096)
    assert struct.unpack_from("<QQII", rest) == (4, 3, 1, fp.DT_REG) and rest[24:25] == b"c"
    assert fp.dirents(entries, 3, 4096) == b""


def test_errors_carry_the_negated_errno() -> None:
    assert struct.unpack("<IiQ", fp.error(11, errno.EROFS)) == (16, -errno.EROFS, 11)
