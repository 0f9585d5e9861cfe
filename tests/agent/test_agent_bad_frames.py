"""One session's bad frame ends that session at the agent, never the link the others share;
requests with fields the agent cannot serve are answered with an error, not left hanging."""

from __future__ import annotations

import asyncio
import os

import msgpack
import pytest

from podtap.core.ids import Port, RequestId, StreamId
from podtap.core.protocol import (
    DEFAULT_WINDOW,
    Close,
    CloseReason,
    Connect,
    ConnectResult,
    Data,
    EnvRequest,
    EnvResponse,
    FileOpen,
    FileOpenResult,
    FileRead,
    FileReadResult,
    FileStat,
    FileStatResult,
    GetAddrInfoRequest,
    GetAddrInfoResponse,
    IncomingMode,
    Subscribe,
    SubscribeResult,
    TransportProtocol,
    WindowUpdate,
)
from podtap.testing.agentproc import AgentLink, AgentProcess, SessionPeer, agent_link
from tests.agent.test_agent_traffic import answer_stolen, get, subscribe


def session_id(link: AgentLink, peer: SessionPeer) -> int:
    return next(sid for sid, p in link.peers.items() if p is peer)


async def connected_stream(peer: SessionPeer) -> StreamId:
    """A TCP stream from the pod to its own app (127.0.0.1:8080)."""
    await peer.send(
        Connect(
            stream=StreamId(1), protocol=TransportProtocol.TCP, host="127.0.0.1", port=Port(8080)
        )
    )
    result = await peer.expect(ConnectResult)
    assert result.ok, result.error
    return result.stream


async def bad_window(link: AgentLink, peer: SessionPeer) -> str:
    await peer.send(WindowUpdate(stream=StreamId(7), credit=0))
    return "window update of 0 bytes on stream 7"


async def negative_window(link: AgentLink, peer: SessionPeer) -> str:
    await peer.send(WindowUpdate(stream=StreamId(7), credit=-5))
    return "window update of -5 bytes"


async def data_beyond_window(link: AgentLink, peer: SessionPeer) -> str:
    stream = await connected_stream(peer)
    await peer.send(Data(stream=stream, data=b"x" * (DEFAULT_WINDOW + 1)))
    return f"with only {DEFAULT_WINDOW} credit"


async def malformed_message(link: AgentLink, peer: SessionPeer) -> str:
    frame = ["envelope", session_id(link, peer), ["data", "seven", b""]]
    await link.wire.ws.send_bytes(msgpack.packb(frame))
    return "data.stream: expected unsigned int"


BAD_FRAMES = [bad_window, negative_window, data_beyond_window, malformed_message]


def test_a_bad_frame_ends_only_its_session_and_says_why(
    agent: AgentProcess, shop_port: int
) -> None:
    async def go() -> None:
        async with agent_link(agent) as link:
            alice = link.session()
            await subscribe(alice)
            for bad in BAD_FRAMES:
                mallory = link.session()
                expected = await bad(link, mallory)
                await mallory.send(
                    EnvRequest(request=RequestId(1))
                )  # in flight: must not revive it
                close = await mallory.expect(Close)
                assert close.reason == CloseReason.PROTOCOL_ERROR, (bad.__name__, close)
                assert expected in close.message, (bad.__name__, close)
                await alice.send(
                    EnvRequest(request=RequestId(2))
                )  # served in order, after mallory's
                await alice.expect(EnvResponse)
                assert mallory.inbox.empty(), mallory.inbox.get_nowait()
            assert not link.wire.closed
            answer = asyncio.ensure_future(answer_stolen(alice))
            assert await asyncio.to_thread(get, shop_port) == b"stolen"
            await answer

    asyncio.run(go())


LONG_LABEL = "a" * 64 + ".example"


@pytest.mark.parametrize(
    ("protocol", "host", "port", "expected"),
    [
        (TransportProtocol.TCP, "", 80, "empty host name"),
        (TransportProtocol.TCP, LONG_LABEL, 80, "longer than 63"),
        (TransportProtocol.UDP, "a..b", 53, "empty label"),
        (TransportProtocol.TCP, "127.0.0.1", 0, "port 0"),
    ],
)
def test_a_connect_the_agent_cannot_make_is_answered(
    agent: AgentProcess, protocol: TransportProtocol, host: str, port: int, expected: str
) -> None:
    async def go() -> None:
        async with agent_link(agent) as link:
            peer = link.session()
            await peer.send(
                Connect(stream=StreamId(1), protocol=protocol, host=host, port=Port(port))
            )
            result = await peer.expect(ConnectResult, timeout=5)
            assert not result.ok and result.stream == 1
            assert result.error is not None and expected in result.error, result

    asyncio.run(go())


def test_requests_with_fields_out_of_range_are_answered(agent: AgentProcess) -> None:
    async def go() -> None:
        async with agent_link(agent) as link:
            peer = link.session()
            await peer.send(Subscribe(request=RequestId(4), port=Port(0), mode=IncomingMode.STEAL))
            sub = await peer.expect(SubscribeResult, timeout=5)
            assert not sub.ok and sub.error and "1..65535" in sub.error, sub
            await peer.send(GetAddrInfoRequest(request=RequestId(5), host="x" * 64))
            dns = await peer.expect(GetAddrInfoResponse, timeout=5)
            assert dns.error and "longer than 63" in dns.error, dns
            await peer.send(FileOpen(request=RequestId(6), path="/etc/hostname", flags=os.O_RDONLY))
            opened = await peer.expect(FileOpenResult, timeout=5)
            assert opened.handle is not None, opened
            await peer.send(
                FileRead(request=RequestId(7), handle=opened.handle, offset=2**64 - 1, size=10)
            )
            read = await peer.expect(FileReadResult, timeout=5)
            assert read.error is not None and read.request == 7, read
            await peer.send(FileStat(request=RequestId(8), path="/etc/\x00hostname"))
            stat = await peer.expect(FileStatResult, timeout=5)
            assert stat.error is not None and stat.request == 8, stat
            stream = await connected_stream(peer)  # the session still works
            await peer.send(
                Connect(
                    stream=stream, protocol=TransportProtocol.TCP, host="127.0.0.1", port=Port(8080)
                )
            )
            again = await peer.expect(ConnectResult, timeout=5)
            assert not again.ok and again.error and "already open" in again.error, again

    asyncio.run(go())
