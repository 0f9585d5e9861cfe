"""Filtered steal through the agent: per-request routing by HTTP filters, for real."""

from __future__ import annotations

import asyncio
import hashlib
import http.client
import json
import socket
from pathlib import Path

import aiohttp

from podtap.core.ids import Port, RequestId
from podtap.core.protocol import (
    BodyEnd,
    Data,
    HttpFilter,
    HttpRequestHead,
    HttpResponseHead,
    IncomingMode,
    Subscribe,
    SubscribeResult,
)
from podtap.net.tasks import TaskSet
from podtap.testing.agentproc import AgentLink, AgentProcess, SessionPeer, agent_link
from podtap.testing.fakedev import Received, Reply, serve_requests, text_reply
from podtap.testing.wait import wait_until
from tests.agent.web import ws_accept, ws_server_text, ws_text_frames

ALICE = HttpFilter(header=r"^x-user: alice$")
BOB = HttpFilter(header=r"^x-user: bob$")


async def steal(
    peer: SessionPeer, port: int, flt: HttpFilter | None, mode: IncomingMode = IncomingMode.STEAL
) -> None:
    await peer.send(Subscribe(request=RequestId(1), port=Port(port), mode=mode, http_filter=flt))
    result = await peer.expect(SubscribeResult)
    assert result.ok, result.error


async def alice_answers(link: AgentLink, tasks: TaskSet) -> SessionPeer:
    """A session stealing alice's requests to port 8000 and answering "for alice"."""
    alice = link.session()
    await steal(alice, 8000, ALICE)
    tasks.spawn(serve_requests(alice, text_reply("for alice")), name="alice")
    return alice


def request(conn: http.client.HTTPConnection, path: str, user: str | None = None) -> bytes:
    conn.request("GET", path, headers={"x-user": user} if user else {})
    return conn.getresponse().read()


def test_two_filters_and_the_app_share_one_keep_alive_connection(
    web_agent: AgentProcess, web: dict[str, int]
) -> None:
    async def go() -> None:
        tasks = TaskSet()
        async with agent_link(web_agent) as link:
            alice, bob, mirror = link.session(), link.session(), link.session()
            await steal(alice, 8000, ALICE)
            await steal(bob, 8000, BOB)
            await steal(mirror, 8000, None, IncomingMode.MIRROR)
            tasks.spawn(serve_requests(alice, text_reply("for alice")), name="alice")
            tasks.spawn(serve_requests(bob, text_reply("for bob")), name="bob")

            def talk() -> list[bytes]:
                conn = http.client.HTTPConnection("127.0.0.1", web["http"], timeout=10)
                try:
                    return [
                        request(conn, "/whoami", "alice"),
                        request(conn, "/whoami"),
                        request(conn, "/whoami", "bob"),
                        request(conn, "/whoami", "carol"),
                        request(conn, "/whoami", "alice"),
                    ]
                finally:
                    conn.close()

            answers = await asyncio.to_thread(talk)
            assert answers[0] == answers[4] == b"for alice"
            assert answers[2] == b"for bob"
            for unmatched in (answers[1], answers[3]):
                body = json.loads(unmatched)
                assert body["app"].startswith("web-")
                assert body["headers"]["X-Forwarded-For"] == "10.244.0.1"
            copied = b""
            async with asyncio.timeout(10):
                while copied.count(b"GET /whoami") < 5:
                    msg = await mirror.inbox.get()
                    if isinstance(msg, Data):
                        copied += msg.data
                        await mirror.credit(msg.stream, len(msg.data))
            for user in (b"alice", b"bob", b"carol"):
                assert b"x-user: " + user in copied
            await tasks.close()

    asyncio.run(go())


def test_non_http_and_malformed_bytes_reach_the_app_unchanged(
    web_agent: AgentProcess, web: dict[str, int]
) -> None:
    payloads = [
        b"\x16\x03\x01\x00\xa5binary tls-ish hello\x00\xff",
        b"GET / HTTP/9.9\r\nthis is: not\r\n\r\n",
        b"HELLO there\r\n\r\n",
    ]

    async def go() -> None:
        async with agent_link(web_agent) as link:
            await steal(link.session(), 8001, ALICE)

            def roundtrip(data: bytes) -> bytes:
                with socket.create_connection(("127.0.0.1", web["echo"]), timeout=10) as s:
                    s.sendall(data)
                    got = b""
                    while len(got) < len(data):
                        chunk = s.recv(65536)
                        if not chunk:
                            break
                        got += chunk
                    return got

            for data in payloads:
                assert await asyncio.to_thread(roundtrip, data) == data

    asyncio.run(go())


def test_websocket_matched_goes_to_the_session_unmatched_to_the_app(
    web_agent: AgentProcess, web: dict[str, int]
) -> None:
    async def alice_ws(peer: SessionPeer) -> None:
        """Accept alice's upgrade and answer every text frame with 'alice: ...'."""
        head = await peer.expect(HttpRequestHead)
        await peer.expect(BodyEnd)
        key = next(v for k, v in head.headers if k.lower() == b"sec-websocket-key")
        await peer.send(
            HttpResponseHead(
                stream=head.stream,
                request=head.request,
                status=101,
                reason="Switching Protocols",
                headers=(
                    (b"upgrade", b"websocket"),
                    (b"connection", b"Upgrade"),
                    (b"sec-websocket-accept", ws_accept(key)),
                ),
            )
        )
        pending = b""
        while True:
            msg = await peer.expect(Data)
            await peer.credit(msg.stream, len(msg.data))
            texts, pending = ws_text_frames(pending + msg.data)
            for text in texts:
                await peer.send(Data(stream=msg.stream, data=ws_server_text(f"alice: {text}")))

    async def go() -> None:
        tasks = TaskSet()
        async with agent_link(web_agent) as link, aiohttp.ClientSession() as http:
            alice = link.session()
            await steal(alice, 8000, ALICE)
            tasks.spawn(alice_ws(alice), name="alice ws")
            url = f"http://127.0.0.1:{web['http']}/ws"
            async with http.ws_connect(url, headers={"x-user": "alice"}) as ws:
                for word in ("one", "two"):
                    await ws.send_str(word)
                    assert await ws.receive_str(timeout=10) == f"alice: {word}"
            async with http.ws_connect(url, headers={"x-user": "dave"}) as ws:
                await ws.send_str("hi")
                answer = await ws.receive_str(timeout=10)
                assert answer.startswith("web-") and answer.endswith(": hi")
            await tasks.close()

    asyncio.run(go())


def agent_peak_rss_mib(agent: AgentProcess) -> float:
    for line in Path(f"/proc/{agent.proc.pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    raise AssertionError("no VmHWM")


def test_50_mb_up_and_down_stream_through_with_bounded_agent_memory(
    web_agent: AgentProcess, web: dict[str, int]
) -> None:
    size = 50 * 1024 * 1024
    blob = hashlib.sha256(b"seed").digest() * (size // 32)
    digest = hashlib.sha256(blob).hexdigest()

    async def respond(ex: Received) -> Reply:
        if ex.head.method == "POST":
            return 200, [], json.dumps({"size": ex.size, "sha256": ex.digest.hexdigest()}).encode()
        return 200, [], blob

    async def go() -> None:
        tasks = TaskSet()
        async with (
            agent_link(web_agent) as link,
            aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=120)) as http,
        ):
            alice = link.session()
            await steal(alice, 8000, ALICE)
            tasks.spawn(serve_requests(alice, respond, keep=0), name="alice")
            base = f"http://127.0.0.1:{web['http']}"
            before = agent_peak_rss_mib(web_agent)
            for user in ("alice", "nobody"):
                async with http.post(f"{base}/upload", data=blob, headers={"x-user": user}) as r:
                    answer = await r.json(content_type=None)
                    assert (answer["size"], answer["sha256"]) == (size, digest), user
                path = "/download" if user == "alice" else f"/download?size={size}"
                async with http.get(base + path, headers={"x-user": user}) as r:
                    got = hashlib.sha256()
                    total = 0
                    async for chunk in r.content.iter_any():
                        got.update(chunk)
                        total += len(chunk)
                    assert total == size, user
                    if user == "alice":
                        assert got.hexdigest() == digest
            grown = agent_peak_rss_mib(web_agent) - before
            assert grown < 64, f"agent memory grew by {grown:.0f} MiB for 50 MB bodies"
            await tasks.close()

    asyncio.run(go())


def test_after_unsubscribe_an_open_connection_sends_later_requests_to_the_app(
    web_agent: AgentProcess, web: dict[str, int]
) -> None:
    from podtap.core.protocol import Unsubscribe

    async def go() -> None:
        tasks = TaskSet()
        async with agent_link(web_agent) as link:
            alice = await alice_answers(link, tasks)
            conn = http.client.HTTPConnection("127.0.0.1", web["http"], timeout=10)
            try:
                assert await asyncio.to_thread(request, conn, "/whoami", "alice") == b"for alice"
                await alice.send(Unsubscribe(port=Port(8000)))
                # the unsubscribe has no reply: watch its effect on the same connection
                await asyncio.to_thread(
                    wait_until,
                    lambda: _json_app(conn),
                    timeout=5,
                    what="alice's requests to reach the app",
                )
            finally:
                conn.close()
                await tasks.close()

    asyncio.run(go())


def _json_app(conn: http.client.HTTPConnection) -> bool:
    body = request(conn, "/whoami", "alice")
    return body.startswith(b"{") and json.loads(body)["app"].startswith("web-")


def test_sigterm_drains_open_connections_and_gives_the_port_back(
    web: dict[str, int], tmp_path: Path
) -> None:
    import signal

    from tests.agent.conftest import assert_no_agent_table

    agent = AgentProcess(pid=web["pid"], socket_path=tmp_path / "term.sock")

    async def go() -> None:
        tasks = TaskSet()
        async with agent_link(agent) as link:
            await alice_answers(link, tasks)
            conn = http.client.HTTPConnection("127.0.0.1", web["http"], timeout=10)
            try:
                assert await asyncio.to_thread(request, conn, "/whoami", "alice") == b"for alice"
                agent.proc.send_signal(signal.SIGTERM)
                assert await asyncio.to_thread(agent.proc.wait, 15) == 0
            finally:
                conn.close()
                await tasks.close()

    try:
        asyncio.run(go())
    finally:
        agent.kill()
    assert_no_agent_table(web["pid"])
    fresh = http.client.HTTPConnection("127.0.0.1", web["http"], timeout=10)
    try:
        assert _json_app(fresh)
    finally:
        fresh.close()


def _read_responses(sock: socket.socket, count: int) -> list[tuple[int, bytes]]:
    """``count`` pipelined responses (status, body) read off one socket, in order."""
    stream = sock.makefile("rb")
    answers = []
    for _ in range(count):
        status = int(stream.readline().split()[1])
        length = 0
        while (line := stream.readline()) not in (b"\r\n", b""):
            name, _, value = line.partition(b":")
            if name.strip().lower() == b"content-length":
                length = int(value)
        answers.append((status, stream.read(length)))
    return answers


def test_pipelined_plain_requests_then_a_matched_one_on_one_connection(
    web_agent: AgentProcess, web: dict[str, int]
) -> None:
    """Plain unmatched requests take the agent's fast path; the first one a filter matches
    (here in the middle of a pipelined burst) hands the connection to the full router at
    that request, with every answer in order and the app's requests marked forwarded."""

    def get(path: str, *extra: str) -> bytes:
        lines = [f"GET {path} HTTP/1.1", "Host: web", *extra, "", ""]
        return "\r\n".join(lines).encode()

    upload = b"POST /upload HTTP/1.1\r\nHost: web\r\nContent-Length: 5\r\n\r\nhello"

    async def go() -> None:
        tasks = TaskSet()
        async with agent_link(web_agent) as link:
            await alice_answers(link, tasks)

            def talk() -> list[tuple[int, bytes]]:
                with socket.create_connection(("127.0.0.1", web["http"]), timeout=10) as s:
                    s.sendall(get("/whoami?1"))
                    first = _read_responses(s, 1)
                    burst = get("/whoami?2") + upload + get("/whoami?3", "x-user: alice")
                    s.sendall(burst + get("/whoami?4", "X-Forwarded-For: 192.0.2.1"))
                    answers = first + _read_responses(s, 4)
                    for i in range(10):  # the connection goes back and forth between paths
                        s.sendall(get(f"/whoami?r{i}", *(["x-user: alice"] if i % 2 else [])))
                        answers += _read_responses(s, 1)
                    return answers

            answers = await asyncio.to_thread(talk)
            assert [status for status, _ in answers] == [200] * 15
            assert answers[3][1] == b"for alice"
            for i, (_, body) in enumerate(answers[5:]):
                if i % 2:
                    assert body == b"for alice"
                else:
                    assert json.loads(body)["path"] == f"/whoami?r{i}"
            bodies = [json.loads(body) for i, (_, body) in enumerate(answers[:5]) if i != 3]
            one, two, up, four = bodies
            assert [one["path"], two["path"], four["path"]] == [
                "/whoami?1",
                "/whoami?2",
                "/whoami?4",
            ]
            assert one["headers"]["X-Forwarded-For"] == "10.244.0.1"
            assert four["headers"]["X-Forwarded-For"] == "192.0.2.1, 10.244.0.1"
            assert up["size"] == 5
            await tasks.close()

    asyncio.run(go())
