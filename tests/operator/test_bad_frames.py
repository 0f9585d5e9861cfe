"""A client's bad frame ends that client's session at the operator, with the reason, and
never reaches the agent every session on the pod shares."""

from __future__ import annotations

import asyncio
import json

import aiohttp
import msgpack
import pytest

from podtap.client.host.operator_api import OperatorAddress
from podtap.core.ids import Port, RequestId, StreamId
from podtap.core.protocol import (
    DEFAULT_WINDOW,
    Close,
    CloseReason,
    Connect,
    ConnectResult,
    Data,
    HelloAck,
    IncomingMode,
    Message,
    Subscribe,
    SubscribeResult,
    TransportProtocol,
    WindowUpdate,
    decode,
    encode,
)
from podtap.net.tasks import TaskSet
from podtap.testing.agentproc import SessionPeer
from podtap.testing.fakedev import serve_connections
from podtap.testing.localcluster import LocalCluster
from podtap.testing.opclient import operator_session
from podtap.testing.wait import wait_until
from tests.operator.test_operator import address, get, status, subscribe
from tests.operator.test_operator import audit as operator_audit


async def bad_window(peer: SessionPeer) -> str:
    await peer.send(WindowUpdate(stream=StreamId(7), credit=0))
    return "window update of 0 bytes on stream 7"


async def data_beyond_window(peer: SessionPeer) -> str:
    await peer.send(
        Connect(
            stream=StreamId(1), protocol=TransportProtocol.TCP, host="127.0.0.1", port=Port(8000)
        )
    )
    result = await peer.expect(ConnectResult)
    assert result.ok, result.error
    await peer.send(Data(stream=result.stream, data=b"x" * (DEFAULT_WINDOW + 1)))
    return f"with only {DEFAULT_WINDOW} credit"


BAD_FRAMES = [bad_window, data_beyond_window]


def audit(cluster: LocalCluster, label: str) -> list[dict[str, object]]:
    return [e for e in operator_audit(cluster) if label in json.dumps(e)]


def test_a_client_bad_frame_ends_its_session_only(shop: LocalCluster, web: dict[str, int]) -> None:
    async def go() -> None:
        op, tasks = await address(shop), TaskSet()
        async with operator_session(op, "deployment/web") as (_, alice):
            assert (await subscribe(alice, None)).ok
            tasks.spawn(serve_connections(alice, b"stolen"), name="alice")
            for bad in BAD_FRAMES:
                async with operator_session(op, "deployment/web") as (mallory, peer):
                    expected = await bad(peer)
                    close = await peer.expect(Close)
                    assert close.reason == CloseReason.PROTOCOL_ERROR, (bad.__name__, close)
                    assert expected in close.message, (bad.__name__, close)
                await asyncio.to_thread(
                    wait_until,
                    lambda label=mallory.label: label not in json.dumps(status(shop)),
                    timeout=5,
                    what="the bad session to end",
                )
                ended = audit(shop, mallory.label)[-1]
                assert ended["event"] == "session_end" and ended["reason"] == "ProtocolError"
            assert await asyncio.to_thread(get, web["http"]) == b"stolen"
            await tasks.close()

    asyncio.run(go())


def test_subscribe_to_port_0_is_refused_before_the_agent(
    shop: LocalCluster, web: dict[str, int]
) -> None:
    async def go() -> None:
        async with operator_session(await address(shop), "deployment/web") as (session, peer):
            await peer.send(Subscribe(request=RequestId(9), port=Port(0), mode=IncomingMode.STEAL))
            result = await peer.expect(SubscribeResult)
            assert not result.ok and result.error and "1..65535" in result.error, result
            assert not [e for e in audit(shop, session.label) if e["event"] == "subscribe"]

    asyncio.run(go())


async def first_frame(op: OperatorAddress, frame: bytes) -> Message | None:
    """Open a session's WebSocket, send `frame` before any Hello, return the answer."""
    url = op.url("/apis/operator.podtap.dev/v1/proxy/namespaces/default/targets/deployment.web")
    async with (
        aiohttp.ClientSession(connector=op.connector()) as http,
        http.ws_connect(url, max_msg_size=0, **op.request_options()) as ws,
    ):
        await ws.send_bytes(frame)
        async with asyncio.timeout(10):
            msg = await ws.receive()
        return decode(msg.data) if msg.type == aiohttp.WSMsgType.BINARY else None


@pytest.mark.parametrize(
    ("frame", "tag"),
    [
        (encode(Data(stream=StreamId(1), data=b"hi")), "data"),
        (
            encode(HelloAck(version=1, features=frozenset(), peer_name="x", peer_version="0")),
            "hello_ack",
        ),
        (msgpack.packb(["window", "seven", 0]), None),
    ],
)
def test_a_first_frame_that_is_not_hello_is_answered_with_close(
    shop: LocalCluster, web: dict[str, int], frame: bytes, tag: str | None
) -> None:
    async def go() -> Message | None:
        return await first_frame(await address(shop), frame)

    answer = asyncio.run(go())
    assert isinstance(answer, Close), answer
    assert answer.reason == CloseReason.PROTOCOL_ERROR
    assert (f"expected hello first, got {tag}" if tag else "window.stream") in answer.message
