"""A wire for Http2Router transcript tests: a real h2 client, the router and a fake h2 app,
connected only through the router's actions; plus tests of the harness-free helpers.

The test plays the client (``wire.client``, an ``H2Connection`` in the client role), the
app (``wire.app``, server role, created on ``OpenApp``) and the sessions (``Session*``
actions collect in ``wire.session``; answers go in through the router's methods).
``wire.pump()`` moves bytes until nothing moves. Every action is logged in
``wire.transcript`` (shown when an assertion fails in :meth:`Wire.check`).
"""

from __future__ import annotations

from collections.abc import Callable, Hashable, Iterable, Sequence
from dataclasses import dataclass, field

from h2.config import H2Configuration
from h2.connection import ConnectionState, H2Connection
from h2.events import (
    ConnectionTerminated,
    DataReceived,
    Event,
    InformationalResponseReceived,
    RequestReceived,
    ResponseReceived,
    StreamEnded,
    StreamReset,
    TrailersReceived,
    WindowUpdated,
)

from podtap.core.routing import (
    Action,
    CloseApp,
    CloseClient,
    Http2Router,
    OpenApp,
    RequestHead,
    SendToApp,
    SendToClient,
    is_h2_preface,
)

CLIENT_ADDR = "10.1.2.3"
Fields = Sequence[tuple[bytes, bytes]]


def route_by_header(head: RequestHead) -> Hashable | None:
    """``x-dev: NAME`` sends the stream to session ``NAME``; none: the app."""
    for name, value in head.headers:
        if name == b"x-dev":
            return value.decode()
    return None


def request(
    method: bytes = b"GET", path: bytes = b"/", *, dev: bytes | None = None, extra: Fields = ()
) -> Fields:
    fields = [(b":method", method), (b":scheme", b"http"), (b":authority", b"svc")]
    fields.append((b":path", path))
    if dev is not None:
        fields.append((b"x-dev", dev))
    return [*fields, *extra]


@dataclass
class Stream:
    """What one side received on one stream, rebuilt from h2 events."""

    head: Fields | None = None  # request or final response head
    informational: list[Fields] = field(default_factory=list)
    body: bytearray = field(default_factory=bytearray)
    trailers: Fields | None = None
    ended: bool = False
    ended_with_head: bool = False
    reset: int | None = None

    @property
    def status(self) -> int | None:
        if self.head is None:
            return None
        return int(dict(self.head)[b":status"])


class _Peer:
    """A fake h2 endpoint: its connection, what it received, bodies waiting for windows."""

    def __init__(self, *, client_side: bool, acks: bool) -> None:
        self.conn = H2Connection(H2Configuration(client_side=client_side, header_encoding=None))
        self.conn.initiate_connection()
        self.acks = acks
        self.inbox = bytearray()
        self.events: list[Event] = []
        self.streams: dict[int, Stream] = {}
        self.pending: dict[int, tuple[bytearray, bool, Fields | None]] = {}
        self.unacked: dict[int, int] = {}

    def stream(self, sid: int) -> Stream:
        return self.streams.setdefault(sid, Stream())

    def receive(self) -> bool:
        if not self.inbox:
            return False
        data = bytes(self.inbox)
        self.inbox.clear()
        for event in self.conn.receive_data(data):
            self.events.append(event)
            self._record(event)
        return True

    def _record(self, event: Event) -> None:
        if isinstance(event, (RequestReceived, ResponseReceived)):
            st = self.stream(event.stream_id)
            st.head = [(bytes(n), bytes(v)) for n, v in event.headers]
            st.ended_with_head = event.stream_ended is not None
        elif isinstance(event, InformationalResponseReceived):
            self.stream(event.stream_id).informational.append(list(event.headers))
        elif isinstance(event, DataReceived):
            self.stream(event.stream_id).body += event.data
            if self.acks:
                self.conn.acknowledge_received_data(event.flow_controlled_length, event.stream_id)
            else:
                sid = event.stream_id
                self.unacked[sid] = self.unacked.get(sid, 0) + event.flow_controlled_length
        elif isinstance(event, TrailersReceived):
            self.stream(event.stream_id).trailers = [(bytes(n), bytes(v)) for n, v in event.headers]
        elif isinstance(event, StreamEnded):
            self.stream(event.stream_id).ended = True
        elif isinstance(event, StreamReset):
            self.stream(event.stream_id).reset = int(event.error_code)
        elif isinstance(event, WindowUpdated):
            pass

    def ack_all(self) -> None:
        for sid, size in self.unacked.items():
            self.conn.acknowledge_received_data(size, sid)
        self.unacked.clear()

    def send_body(
        self, sid: int, data: bytes, *, end: bool, trailers: Fields | None = None
    ) -> None:
        """Queue ``data`` (then END_STREAM or trailers) and send what the windows allow."""
        queued, _, _ = self.pending.get(sid, (bytearray(), False, None))
        queued += data
        self.pending[sid] = (queued, end, trailers)
        self.flush()

    def flush(self) -> None:
        conn = self.conn
        for sid, (queued, end, trailers) in list(self.pending.items()):
            sent_end = False
            while queued:
                room = min(conn.local_flow_control_window(sid), conn.max_outbound_frame_size)
                if room <= 0:
                    break
                piece = bytes(queued[:room])
                del queued[:room]
                sent_end = end and not queued and trailers is None
                conn.send_data(sid, piece, end_stream=sent_end)
            if not queued:
                del self.pending[sid]
                if trailers is not None:
                    conn.send_headers(sid, trailers, end_stream=True)
                elif end and not sent_end:
                    conn.end_stream(sid)


def reopen(conn: H2Connection) -> None:
    """h2 refuses every frame after a GOAWAY was sent or received; real peers keep
    finishing the streams below ``last_stream_id``. Put the fake peer back to open."""
    side = ConnectionState.CLIENT_OPEN if conn.config.client_side else ConnectionState.SERVER_OPEN
    conn.state_machine.state = side


class Wire:
    """Client ⇄ router ⇄ app (and sessions), connected through the router's actions."""

    def __init__(
        self,
        route: Callable[[RequestHead], Hashable | None] = route_by_header,
        *,
        max_buffer: int = 1 << 20,
        app_acks: bool = True,
        client_acks: bool = True,
    ) -> None:
        self.router = Http2Router(route=route, client_addr=CLIENT_ADDR, max_buffer=max_buffer)
        self.client = _Peer(client_side=True, acks=client_acks)
        self.app_acks = app_acks
        self.app_peer: _Peer | None = None
        self.apps_opened = 0
        self.app_closed = False
        self.client_closed = False
        self.session: list[Action] = []
        self.transcript: list[str] = []
        self.max_buffered = 0

    @property
    def app(self) -> _Peer:
        assert self.app_peer is not None, "the router opened no app connection"
        return self.app_peer

    def do(self, actions: Iterable[Action], source: str = "") -> None:
        for action in actions:
            if isinstance(action, (SendToApp, SendToClient)):
                self.transcript.append(f"{source}: {type(action).__name__}({len(action.data)})")
            else:
                self.transcript.append(f"{source}: {action!r}")
            if isinstance(action, OpenApp):
                self.app_peer = _Peer(client_side=False, acks=self.app_acks)
                self.apps_opened += 1
                self.app_closed = False
            elif isinstance(action, SendToApp):
                assert not self.app_closed, "SendToApp after CloseApp"
                self.app.inbox += action.data
            elif isinstance(action, SendToClient):
                assert not self.client_closed, "SendToClient after CloseClient"
                self.client.inbox += action.data
            elif isinstance(action, CloseApp):
                self.app_closed = True
            elif isinstance(action, CloseClient):
                self.client_closed = True
            else:
                self.session.append(action)
        self.max_buffered = max(self.max_buffered, self.router.buffered)

    def pump(self, limit: int = 10_000) -> None:
        for _ in range(limit):
            moved = False
            self.client.flush()
            data = self.client.conn.data_to_send()
            if data and not self.client_closed:
                self.do(self.router.client_data(data), "client")
                moved = True
            peer = self.app_peer
            if peer is not None and not self.app_closed:
                peer.flush()
                data = peer.conn.data_to_send()
                if data:
                    self.do(self.router.app_data(data), "app")
                    moved = True
                moved = peer.receive() or moved
            moved = self.client.receive() or moved
            if not moved:
                return
        raise AssertionError("pump did not settle")

    def send_request(
        self, fields: Fields, body: bytes = b"", *, end: bool = True, trailers: Fields | None = None
    ) -> int:
        sid = self.client.conn.get_next_available_stream_id()
        bare = end and not body and trailers is None
        self.client.conn.send_headers(sid, fields, end_stream=bare)
        if not bare:
            self.client.send_body(sid, body, end=end, trailers=trailers)
        self.pump()
        return sid

    def take_session(self) -> list[Action]:
        actions, self.session = self.session, []
        return actions

    def feed(self, actions: list[Action], source: str = "session") -> None:
        self.do(actions, source)
        self.pump()

    def app_respond(
        self,
        sid: int,
        status: int = 200,
        body: bytes = b"",
        *,
        headers: Fields = (),
        trailers: Fields | None = None,
        end: bool = True,
    ) -> None:
        conn = self.app.conn
        bare = end and not body and trailers is None
        conn.send_headers(sid, [(b":status", b"%d" % status), *headers], end_stream=bare)
        if not bare:
            self.app.send_body(sid, body, end=end, trailers=trailers)
        self.pump()

    def goaways(self, peer: _Peer) -> list[ConnectionTerminated]:
        return [e for e in peer.events if isinstance(e, ConnectionTerminated)]


def test_is_h2_preface_judges_prefixes() -> None:
    preface = b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n"
    assert is_h2_preface(b"") is None
    assert is_h2_preface(b"PRI * HT") is None
    assert is_h2_preface(preface) is True
    assert is_h2_preface(preface + b"\x00\x00\x12\x04") is True
    assert is_h2_preface(b"GET / HTTP/1.1\r\n") is False
    assert is_h2_preface(b"PRI * HTTP/1.1") is False
    assert is_h2_preface(b"\x16\x03\x01") is False


def test_the_wire_settles_with_nothing_to_do() -> None:
    wire = Wire()
    wire.pump()
    assert wire.session == []
    assert wire.apps_opened == 0
    assert not wire.router.closed
