"""SPDY/3.1 framing as kubectl's port-forward sends it, byte by byte (kubeapi/spdy.py)."""

from __future__ import annotations

import struct
import zlib

from podtap.backends.local.kubeapi import spdy
from podtap.backends.local.kubeapi.execws import exit_status


class Client:
    """The client's half: what spdystream writes (one compression context per direction)."""

    def __init__(self) -> None:
        level, method, bits, mem = 9, zlib.DEFLATED, 15, 8
        self.deflate = zlib.compressobj(level, method, bits, mem, 0, spdy.DICTIONARY)
        self.inflate = zlib.decompressobj(zdict=spdy.DICTIONARY)

    def syn_stream(self, stream_id: int, headers: dict[str, str]) -> bytes:
        block = struct.pack(">I", len(headers))
        for k, v in headers.items():
            block += struct.pack(">I", len(k)) + k.encode() + struct.pack(">I", len(v)) + v.encode()
        packed = self.deflate.compress(block) + self.deflate.flush(zlib.Z_SYNC_FLUSH)
        payload = struct.pack(">IIBB", stream_id, 0, 0, 0) + packed
        return struct.pack(">HHI", 0x8003, spdy.SYN_STREAM, len(payload)) + payload


def test_the_dictionary_is_spdy3s() -> None:
    assert len(spdy.DICTIONARY) == 1423
    assert spdy.DICTIONARY.startswith(b"\x00\x00\x00\x07options\x00\x00\x00\x04head")
    assert spdy.DICTIONARY.endswith(b"charset=iso-8859-1,utf-,*,enq=0.")


def test_streams_headers_and_data_in_any_split() -> None:
    client, server = Client(), spdy.Connection()
    wire = client.syn_stream(1, {"streamtype": "error", "port": "80", "requestid": "0"})
    wire += client.syn_stream(3, {"streamtype": "data", "port": "80", "requestid": "0"})
    wire += struct.pack(">II", 3, 5) + b"hello" + struct.pack(">II", 1, 1 << 24)
    wire += struct.pack(">HHII", 0x8003, spdy.PING, 4, 7)
    events = [e for i in range(len(wire)) for e in server.receive(wire[i : i + 1])]
    assert events == [
        spdy.SynStream(1, {"streamtype": "error", "port": "80", "requestid": "0"}, False),
        spdy.SynStream(3, {"streamtype": "data", "port": "80", "requestid": "0"}, False),
        spdy.Data(3, b"hello", False),
        spdy.Data(1, b"", True),
        spdy.Ping(7),
    ]


def test_replies_decode_in_the_clients_context() -> None:
    client, server = Client(), spdy.Connection()
    for stream_id in (1, 3):
        frame = server.syn_reply(stream_id)
        assert struct.unpack(">HHI", frame[:8])[:2] == (0x8003, spdy.SYN_REPLY)
        assert int.from_bytes(frame[8:12], "big") == stream_id
        assert client.inflate.decompress(frame[12:]) == b"\x00\x00\x00\x00"
    assert server.data(3, b"x", fin=True) == struct.pack(">II", 3, (1 << 24) | 1) + b"x"
    assert server.data(3, b"", fin=True) == struct.pack(">II", 3, 1 << 24)
    assert server.ping(9)[8:] == struct.pack(">I", 9)


def test_exec_status_carries_the_exit_code() -> None:
    assert exit_status(0, ["true"]) == {"metadata": {}, "status": "Success"}
    failed = exit_status(3, ["sh", "-c", "exit 3"])
    assert failed["reason"] == "NonZeroExitCode"
    assert failed["details"] == {"causes": [{"reason": "ExitCode", "message": "3"}]}
