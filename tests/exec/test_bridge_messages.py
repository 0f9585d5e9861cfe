"""The bridge between `podtap exec` and its jail: every message survives its one codec, and a
line that is not one of them is refused, never half-read (no root, no sockets but a pair)."""

from __future__ import annotations

import asyncio

import pytest

from podtap.client.bridge import (
    BridgeError,
    Connect,
    Deliver,
    Message,
    Opened,
    Refused,
    Resolve,
    Resolved,
    UdpFlow,
    datagram,
    decode,
    encode,
    read_datagram,
    receive,
)

MESSAGES: list[Message] = [
    Connect(host="10.96.0.7", port=5432),
    UdpFlow(host="10.96.0.10", port=53),
    Resolve(name="catalog.default.svc.cluster.local", family="AAAA"),
    Opened(),
    Refused(error="Connection refused"),
    Refused(error="timed out", where="from this machine"),
    Resolved(addresses=("10.96.0.7", "10.96.0.8")),
    Resolved(addresses=()),
    Deliver(port=8080),
]


@pytest.mark.parametrize("message", MESSAGES, ids=lambda m: type(m).__name__)
def test_each_message_is_one_line_and_comes_back_equal(message: Message) -> None:
    line = encode(message)
    assert line.endswith(b"\n") and line.count(b"\n") == 1
    assert decode(line) == message


def test_a_refusal_is_from_the_pod_unless_it_says_otherwise() -> None:
    assert Refused(error="no route").where == "from the pod"


@pytest.mark.parametrize(
    "line",
    [
        b"",  # the peer closed
        b"not json\n",
        b"[1, 2]\n",
        b'{"host": "a", "port": 1}\n',  # no op
        b'{"op": "shutdown"}\n',
        b'{"op": "connect", "host": "a", "port": "80"}\n',
        b'{"op": "connect", "host": "a"}\n',
        b'{"op": "deliver", "port": true}\n',
        b'{"op": "resolved", "addresses": ["10.0.0.1", 7]}\n',
        b'{"op": "refused", "error": "x"}\n',  # every field is written, so every one is read
    ],
)
def test_a_line_that_is_no_message_is_refused(line: bytes) -> None:
    with pytest.raises(BridgeError):
        decode(line)


def test_receive_reads_one_message_and_none_at_the_end() -> None:
    async def scenario() -> list[object]:
        reader = asyncio.StreamReader()
        reader.feed_data(encode(Deliver(port=80)) + b"raw bytes of the stream")
        reader.feed_eof()
        first = await receive(reader)
        rest = await reader.read()
        return [first, rest, await receive(reader)]

    assert asyncio.run(scenario()) == [Deliver(port=80), b"raw bytes of the stream", None]


def test_datagrams_are_framed_one_by_one() -> None:
    async def scenario() -> list[bytes]:
        reader = asyncio.StreamReader()
        reader.feed_data(datagram(b"\x12\x34query") + datagram(b"") + datagram(b"x" * 1500))
        reader.feed_eof()
        got = [await read_datagram(reader) for _ in range(3)]
        with pytest.raises(asyncio.IncompleteReadError):
            await read_datagram(reader)
        return got

    assert asyncio.run(scenario()) == [b"\x12\x34query", b"", b"x" * 1500]
