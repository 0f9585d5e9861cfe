"""Filtered steal of HTTP/2 with prior knowledge (h2c, gRPC) through the agent, for real:
every stream of a client connection is routed on its own."""

from __future__ import annotations

import asyncio
import socket
import struct
import time
from dataclasses import dataclass, field
from types import TracebackType

from h2.config import H2Configuration
from h2.connection import H2Connection
from h2.errors import ErrorCodes
from h2.events import (
    ConnectionTerminated,
    DataReceived,
    ResponseReceived,
    StreamEnded,
    StreamReset,
    TrailersReceived,
)

from podtap.core.ids import Port, RequestId
from podtap.core.protocol import HttpFilter, IncomingMode, Subscribe, SubscribeResult
from podtap.net.tasks import TaskSet
from podtap.testing.agentproc import AgentProcess, SessionPeer, agent_link
from podtap.testing.fakedev import Received, Reply, TrailedReply, serve_requests
from podtap.testing.testapp import grpc_frame

ALICE = HttpFilter(header=r"^x-user: alice$")
H2_PORT = 8002  # the test app's HTTP/2 port in the pod (svc/web port 82)
TIMEOUT = 10.0
GRPC = [(b"content-type", b"application/grpc"), (b"te", b"trailers")]
ALICE_HEADER = [(b"x-user", b"alice")]


async def steal_h2(peer: SessionPeer) -> None:
    await peer.send(
        Subscribe(
            request=RequestId(1), port=Port(H2_PORT), mode=IncomingMode.STEAL, http_filter=ALICE
        )
    )
    result = await peer.expect(SubscribeResult)
    assert result.ok, result.error


def grpc_messages(data: bytes) -> list[bytes]:
    """The messages of a gRPC length-prefixed stream (uncompressed)."""
    messages = []
    while data:
        flag, size = struct.unpack("!BL", data[:5])
        assert flag == 0 and len(data) >= 5 + size, data
        messages.append(data[5 : 5 + size])
        data = data[5 + size :]
    return messages


async def alice_answers(ex: Received) -> Reply | TrailedReply:
    """The session: gRPC calls get 'alice got <message>' plus grpc-status 0, the rest
    'alice h2 <path>'."""
    if (ex.header(b"content-type") or b"").startswith(b"application/grpc"):
        (message,) = grpc_messages(bytes(ex.body))
        body = grpc_frame(b"alice got " + message)
        return 200, [(b"content-type", b"application/grpc")], body, [(b"grpc-status", b"0")]
    return 200, [(b"content-type", b"text/plain")], f"alice h2 {ex.head.path}".encode()


async def curl_h2(port: int, path: str, user: str | None = None) -> bytes:
    """GET with curl over HTTP/2 with prior knowledge; returns the body."""
    argv = ["curl", "-sS", "--http2-prior-knowledge", "--max-time", str(TIMEOUT)]
    argv += ["-w", "\n%{http_version} %{http_code}", f"http://127.0.0.1:{port}{path}"]
    if user is not None:
        argv += ["-H", f"x-user: {user}"]
    proc = await asyncio.create_subprocess_exec(
        *argv, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE
    )
    out, err = await proc.communicate()
    assert proc.returncode == 0, err.decode()
    body, _, status = out.rpartition(b"\n")
    assert status == b"2 200", (status, body)
    return body


@dataclass
class Response:
    headers: dict[bytes, bytes] = field(default_factory=dict)
    body: bytearray = field(default_factory=bytearray)
    trailers: dict[bytes, bytes] = field(default_factory=dict)
    ended: bool = False
    reset: int | None = None


class H2Client:
    """A blocking HTTP/2 (prior knowledge) client over one socket, built on h2: several
    streams can be open at once; every wait has a deadline."""

    def __init__(self, port: int) -> None:
        self.authority = f"127.0.0.1:{port}".encode()
        self.sock = socket.create_connection(("127.0.0.1", port), timeout=TIMEOUT)
        self.conn = H2Connection(H2Configuration(client_side=True, header_encoding=None))
        self.conn.initiate_connection()
        self.responses: dict[int, Response] = {}
        self._flush()

    def __enter__(self) -> H2Client:
        return self

    def __exit__(
        self,
        kind: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

    def close(self) -> None:
        try:
            self.conn.close_connection()
            self._flush()
        except OSError:
            pass
        finally:
            self.sock.close()

    def request(
        self,
        method: str,
        path: str,
        headers: list[tuple[bytes, bytes]] | None = None,
        body: bytes = b"",
        *,
        end: bool = True,
    ) -> int:
        """Open a stream; ``end=False`` leaves the request open (see :meth:`end`)."""
        sid: int = self.conn.get_next_available_stream_id()
        fields = [
            (b":method", method.encode()),
            (b":scheme", b"http"),
            (b":authority", self.authority),
            (b":path", path.encode()),
            *(headers or []),
        ]
        self.responses[sid] = Response()
        self.conn.send_headers(sid, fields, end_stream=end and not body)
        if body:
            assert len(body) <= self.conn.local_flow_control_window(sid)
            self.conn.send_data(sid, body, end_stream=end)
        self._flush()
        return sid

    def end(self, sid: int) -> None:
        self.conn.end_stream(sid)
        self._flush()

    def reset(self, sid: int) -> None:
        self.conn.reset_stream(sid, ErrorCodes.CANCEL)
        self._flush()

    def wait(self, sid: int) -> Response:
        """Read until stream ``sid``'s response is complete (or reset)."""
        deadline = time.monotonic() + TIMEOUT
        response = self.responses[sid]
        while not response.ended and response.reset is None:
            assert time.monotonic() < deadline, f"no complete response on stream {sid}"
            data = self.sock.recv(65536)
            assert data, "the connection closed"
            for event in self.conn.receive_data(data):
                self._on_event(event)
            self._flush()
        assert response.reset is None, f"stream {sid} reset: {response.reset}"
        return response

    def _on_event(self, event: object) -> None:
        if isinstance(event, ConnectionTerminated):
            raise AssertionError(f"GOAWAY: {event}")
        response = self.responses.get(getattr(event, "stream_id", 0))
        if response is None:
            return
        if isinstance(event, ResponseReceived):
            response.headers = dict(event.headers)
        elif isinstance(event, DataReceived):
            response.body += event.data
            self.conn.acknowledge_received_data(event.flow_controlled_length, event.stream_id)
        elif isinstance(event, TrailersReceived):
            response.trailers = dict(event.headers)
        elif isinstance(event, StreamEnded):
            response.ended = True
        elif isinstance(event, StreamReset):
            response.reset = event.error_code

    def _flush(self) -> None:
        data = self.conn.data_to_send()
        if data:
            self.sock.sendall(data)


def test_curl_h2c_matched_goes_to_the_session_unmatched_to_the_app(
    web_agent: AgentProcess, web: dict[str, int]
) -> None:
    async def go() -> None:
        tasks = TaskSet()
        seen: list[Received] = []
        async with agent_link(web_agent) as link:
            try:
                alice = link.session()
                await steal_h2(alice)
                tasks.spawn(serve_requests(alice, alice_answers, seen=seen), name="alice")
                assert await curl_h2(web["h2"], "/hello?q=1", "alice") == b"alice h2 /hello?q=1"
                answer = await curl_h2(web["h2"], "/hello?q=2")
                assert answer.startswith(b"web-") and answer.endswith(b" h2 /hello?q=2"), answer
                answer = await curl_h2(web["h2"], "/hello?q=3", "bob")
                assert answer.startswith(b"web-") and answer.endswith(b" h2 /hello?q=3"), answer
                ((head, user),) = [(ex.head, ex.header(b"x-user")) for ex in seen]
                assert (head.method, head.path, head.http_version) == ("GET", "/hello?q=1", "2")
                assert user == b"alice"
            finally:
                await tasks.close()

    asyncio.run(go())


def test_two_concurrent_streams_of_one_connection_are_routed_each_on_its_own(
    web_agent: AgentProcess, web: dict[str, int]
) -> None:
    def talk() -> tuple[Response, Response, bool]:
        with H2Client(web["h2"]) as client:
            # alice's request stays open while the other stream is sent and answered
            to_alice = client.request("POST", "/both/alice", ALICE_HEADER, b"first part", end=False)
            to_app = client.request("GET", "/both/app", [(b"x-user", b"carol")])
            from_app = client.wait(to_app)
            alice_pending = not client.responses[to_alice].ended
            client.end(to_alice)
            return client.wait(to_alice), from_app, alice_pending

    async def go() -> None:
        tasks = TaskSet()
        seen: list[Received] = []
        async with agent_link(web_agent) as link:
            try:
                alice = link.session()
                await steal_h2(alice)
                tasks.spawn(serve_requests(alice, alice_answers, seen=seen), name="alice")
                from_alice, from_app, alice_pending = await asyncio.to_thread(talk)
                assert alice_pending, "alice's stream was answered before its request ended"
                assert from_alice.headers[b":status"] == b"200"
                assert bytes(from_alice.body) == b"alice h2 /both/alice"
                assert from_app.headers[b":status"] == b"200"
                assert from_app.body.startswith(b"web-"), from_app.body
                assert from_app.body.endswith(b" h2 /both/app"), from_app.body
                ((method, body),) = [(ex.head.method, bytes(ex.body)) for ex in seen]
                assert (method, body) == ("POST", b"first part")
            finally:
                await tasks.close()

    asyncio.run(go())


def test_grpc_call_gets_its_trailers_from_the_session_and_from_the_app(
    web_agent: AgentProcess, web: dict[str, int]
) -> None:
    path = "/podtap.test.Greeter/SayHello"

    def call(client: H2Client, user: bytes) -> int:
        headers = [*GRPC, (b"x-user", user)]
        return client.request("POST", path, headers, grpc_frame(b"hello from " + user))

    def talk() -> tuple[Response, Response]:
        with H2Client(web["h2"]) as client:
            to_alice, to_app = call(client, b"alice"), call(client, b"dave")
            return client.wait(to_alice), client.wait(to_app)

    async def go() -> None:
        tasks = TaskSet()
        seen: list[Received] = []
        async with agent_link(web_agent) as link:
            try:
                alice = link.session()
                await steal_h2(alice)
                tasks.spawn(serve_requests(alice, alice_answers, seen=seen), name="alice")
                from_alice, from_app = await asyncio.to_thread(talk)
                for response in (from_alice, from_app):
                    assert response.headers[b":status"] == b"200"
                    assert response.headers[b"content-type"] == b"application/grpc"
                    assert response.trailers == {b"grpc-status": b"0"}
                assert grpc_messages(bytes(from_alice.body)) == [b"alice got hello from alice"]
                (message,) = grpc_messages(bytes(from_app.body))
                assert message.startswith(b"web-") and message.endswith(b" h2 " + path.encode())
                (ex,) = seen
                assert ex.header(b"te") == b"trailers"
                assert grpc_messages(bytes(ex.body)) == [b"hello from alice"]
            finally:
                await tasks.close()

    asyncio.run(go())


def test_a_reset_stream_does_not_orphan_the_sessions_other_streams(
    web_agent: AgentProcess, web: dict[str, int]
) -> None:
    """The client resets one of alice's streams while alice still owes another one on the
    same connection: the agent must keep alice's protocol stream for the other one."""

    async def go() -> None:
        tasks = TaskSet()
        loop = asyncio.get_running_loop()
        holding, release = asyncio.Event(), asyncio.Event()

        async def respond(ex: Received) -> Reply:
            if ex.head.path == "/held":
                holding.set()
                await release.wait()
            return 200, [], f"alice h2 {ex.head.path}".encode()

        def talk() -> tuple[Response, Response]:
            with H2Client(web["h2"]) as client:
                dropped = client.request("POST", "/dropped", ALICE_HEADER, end=False)
                held = client.request("GET", "/held", ALICE_HEADER)
                asyncio.run_coroutine_threadsafe(holding.wait(), loop).result(TIMEOUT)
                client.reset(dropped)
                # a stream to the app opened after the reset: once it is answered, the
                # agent has handled the reset
                client.wait(client.request("GET", "/after-reset"))
                loop.call_soon_threadsafe(release.set)
                first = client.wait(held)
                return first, client.wait(client.request("GET", "/later", ALICE_HEADER))

        async with agent_link(web_agent) as link:
            try:
                alice = link.session()
                await steal_h2(alice)
                tasks.spawn(serve_requests(alice, respond), name="alice")
                held, later = await asyncio.to_thread(talk)
                assert bytes(held.body) == b"alice h2 /held"
                assert bytes(later.body) == b"alice h2 /later"
            finally:
                await tasks.close()

    asyncio.run(go())
