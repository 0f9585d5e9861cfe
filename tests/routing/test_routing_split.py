"""Property: however the client's bytes are split into reads, the routing is the same."""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass, field

import h11
from hypothesis import given, settings
from hypothesis import strategies as st

from podtap.core.routing import (
    Action,
    CloseApp,
    CloseClient,
    OpenApp,
    SendToApp,
    SendToClient,
    SessionRequestBody,
    SessionRequestEnd,
    SessionRequestHead,
)

from .helpers import CLIENT_ADDR, new_router

Headers = tuple[tuple[bytes, bytes], ...]


@dataclass(frozen=True)
class Req:
    route: str | None
    method: bytes
    body: bytes
    chunked: bool
    pieces: tuple[int, ...]
    trailers: Headers
    expect: bool

    def headers(self) -> Headers:
        items: list[tuple[bytes, bytes]] = [(b"Host", b"svc")]
        if self.route is not None:
            items.append((b"X-Dev", self.route.encode()))
        if self.expect:
            items.append((b"Expect", b"100-continue"))
        if self.chunked:
            items.append((b"Transfer-Encoding", b"chunked"))
        elif self.method == b"POST":
            items.append((b"Content-Length", b"%d" % len(self.body)))
        return tuple(items)

    def encode(self) -> bytes:
        head = self.method + b" /r HTTP/1.1\r\n"
        head += b"".join(n + b": " + v + b"\r\n" for n, v in self.headers()) + b"\r\n"
        if not self.chunked:
            return head + self.body
        out, rest = [head], self.body
        for size in self.pieces:
            piece, rest = rest[:size], rest[size:]
            if piece:
                out.append(b"%x\r\n%s\r\n" % (len(piece), piece))
        if rest:
            out.append(b"%x\r\n%s\r\n" % (len(rest), rest))
        out.append(b"0\r\n" + b"".join(n + b": " + v + b"\r\n" for n, v in self.trailers) + b"\r\n")
        return b"".join(out)


@st.composite
def requests(draw: st.DrawFn) -> Req:
    route = draw(st.sampled_from([None, "s1", "s2"]))
    method = draw(st.sampled_from([b"GET", b"POST", b"HEAD"]))
    body = draw(st.binary(max_size=40)) if method == b"POST" else b""
    chunked = method == b"POST" and draw(st.booleans())
    pieces = tuple(draw(st.lists(st.integers(1, 12), max_size=4))) if chunked else ()
    trailers: Headers = ((b"X-Sum", b"%d" % len(body)),) if chunked and draw(st.booleans()) else ()
    expect = method == b"POST" and route is not None and draw(st.booleans())
    return Req(route, method, body, chunked, pieces, trailers, expect)


@dataclass
class Outcome:
    session_requests: list[tuple[object, ...]] = field(default_factory=list)
    app_requests: list[tuple[object, ...]] = field(default_factory=list)
    to_client: bytearray = field(default_factory=bytearray)
    others: list[Action] = field(default_factory=list)


class FakeApp:
    """Parses what the router sends to the app and answers each complete request."""

    def __init__(self, outcome: Outcome) -> None:
        self.outcome = outcome
        self.conn: h11.Connection | None = None
        self.count = 0
        self.current: list[object] = []
        self.head_request = False

    def receive(self, data: bytes) -> list[bytes]:
        assert self.conn is not None, "SendToApp without OpenApp"
        self.conn.receive_data(data)
        answers = []
        while True:
            event = self.conn.next_event()
            if isinstance(event, h11.Request):
                items = tuple((bytes(n), bytes(v)) for n, v in event.headers.raw_items())
                self.current = [event.method, event.target, items, b""]
                self.head_request = event.method == b"HEAD"
            elif isinstance(event, h11.Data):
                self.current[3] += bytes(event.data)  # type: ignore[operator]
            elif isinstance(event, h11.EndOfMessage):
                trailers = tuple((bytes(n), bytes(v)) for n, v in event.headers.raw_items())
                self.outcome.app_requests.append((*self.current, trailers))
                self.count += 1
                body = b"app-%d" % self.count
                answer = b"HTTP/1.1 200 OK\r\nContent-Length: %d\r\n\r\n" % len(body)
                answer += b"" if self.head_request else body
                answers.append(answer)
                self.conn.send(h11.Response(status_code=200, headers=[("Content-Length", "0")]))
                self.conn.send(h11.EndOfMessage())
                self.conn.start_next_cycle()
            else:
                return answers


def drive(chunks: list[bytes]) -> Outcome:
    router = new_router()
    outcome = Outcome()
    app = FakeApp(outcome)
    bodies: dict[object, bytearray] = {}
    pending: deque[Action] = deque()

    def process(actions: list[Action]) -> None:
        pending.extend(actions)
        while pending:
            action = pending.popleft()
            if isinstance(action, OpenApp | CloseApp):
                outcome.others.append(action)
                app.conn = h11.Connection(h11.SERVER) if isinstance(action, OpenApp) else None
            elif isinstance(action, SendToApp):
                for answer in app.receive(action.data):
                    pending.extend(router.app_data(answer))
            elif isinstance(action, SendToClient):
                outcome.to_client += action.data
            elif isinstance(action, SessionRequestHead):
                bodies[action.request_id] = bytearray()
                outcome.session_requests.append((action.route, action.request_id, action.head))
            elif isinstance(action, SessionRequestBody):
                bodies[action.request_id] += action.data
            elif isinstance(action, SessionRequestEnd):
                rid = action.request_id
                outcome.session_requests.append((rid, bytes(bodies[rid]), action.trailers))
                body = b"%s-%d" % (str(action.route).encode(), rid)
                length = [(b"Content-Length", b"%d" % len(body))]
                pending.extend(router.session_response_head(action.route, rid, 200, length))
                pending.extend(router.session_response_body(action.route, rid, body))
                pending.extend(router.session_response_end(action.route, rid))
            else:
                outcome.others.append(action)

    for chunk in chunks:
        process(router.client_data(chunk))
    process(router.client_eof())
    return outcome


@settings(max_examples=150, deadline=None)
@given(reqs=st.lists(requests(), min_size=1, max_size=5), data=st.data())
def test_any_split_of_the_client_stream_routes_the_same(
    reqs: list[Req], data: st.DataObject
) -> None:
    stream = b"".join(r.encode() for r in reqs)
    cuts = sorted(set(data.draw(st.lists(st.integers(1, len(stream) - 1), max_size=12))))
    chunks = [stream[a:b] for a, b in zip([0, *cuts], [*cuts, len(stream)], strict=True)]

    whole = drive([stream])
    split = drive(chunks)
    assert split == whole

    # and the routing itself is right: each request reached its destination intact
    xff = ((b"X-Forwarded-For", CLIENT_ADDR.encode()),)
    to_app = [
        (r.method, b"/r", r.headers() + xff, r.body, r.trailers) for r in reqs if r.route is None
    ]
    assert whole.app_requests == to_app
    ends = [e for e in whole.session_requests if len(e) == 3 and isinstance(e[1], bytes)]
    expected_ends = [(r.body, r.trailers) for r in reqs if r.route is not None]
    assert [(e[1], e[2]) for e in ends] == expected_ends
    assert whole.to_client.count(b"HTTP/1.1 200 OK\r\n") == len(reqs)
    uses_app = any(r.route is None for r in reqs)
    assert whole.others == ([OpenApp(), CloseApp()] if uses_app else []) + [CloseClient()]


@st.composite
def app_responses(draw: st.DrawFn) -> tuple[bytes, bytes]:
    """``(request method, response bytes)`` for an app answering one request."""
    method = draw(st.sampled_from([b"GET", b"HEAD"]))
    status = draw(st.sampled_from([200, 404, 204]))
    body = b"" if status == 204 else draw(st.binary(max_size=30))
    interim = b"HTTP/1.1 103 Early Hints\r\nLink: </a>\r\n\r\n" if draw(st.booleans()) else b""
    head = b"HTTP/1.1 %d X\r\nX-N: 1\r\n" % status
    if status == 204 or method == b"HEAD" or not draw(st.booleans()):
        length = b"" if status == 204 else b"Content-Length: %d\r\n" % len(body)
        payload = b"" if method == b"HEAD" or status == 204 else body
        return method, interim + head + length + b"\r\n" + payload
    out, rest = [interim + head + b"Transfer-Encoding: chunked\r\n\r\n"], body
    while rest:
        size = draw(st.integers(1, 8))
        out.append(b"%x\r\n%s\r\n" % (len(rest[:size]), rest[:size]))
        rest = rest[size:]
    trailer = b"X-T: 1\r\n" if draw(st.booleans()) else b""
    return method, b"".join(out) + b"0\r\n" + trailer + b"\r\n"


def client_view(methods: list[bytes], stream: bytes) -> list[tuple[object, ...]]:
    """Parse what the client received: one (status, headers, body, trailers) per request."""
    conn = h11.Connection(h11.CLIENT)
    conn.receive_data(stream)
    result: list[tuple[object, ...]] = []
    for method in methods:
        conn.send(h11.Request(method=method, target="/", headers=[("Host", "svc")]))
        conn.send(h11.EndOfMessage())
        parts: list[object] = []
        body = b""
        while True:
            event = conn.next_event()
            if isinstance(event, h11.InformationalResponse | h11.Response):
                parts.append((event.status_code, list(event.headers.raw_items())))
            elif isinstance(event, h11.Data):
                body += bytes(event.data)
            elif isinstance(event, h11.EndOfMessage):
                result.append((*parts, body, list(event.headers.raw_items())))
                break
            else:
                raise AssertionError(event)
        conn.start_next_cycle()
    return result


@settings(max_examples=100, deadline=None)
@given(answers=st.lists(app_responses(), min_size=1, max_size=4), data=st.data())
def test_any_split_of_app_responses_reaches_the_client_the_same(
    answers: list[tuple[bytes, bytes]], data: st.DataObject
) -> None:
    methods = [method for method, _ in answers]

    def run_with(split: bool) -> bytes:
        router = new_router()
        request = b"".join(m + b" /r HTTP/1.1\r\nHost: svc\r\n\r\n" for m in methods)
        actions = router.client_data(request)
        for _, response in answers:
            cuts: list[int] = []
            if split and len(response) > 1:
                points = st.lists(st.integers(1, len(response) - 1), max_size=8)
                cuts = sorted(set(data.draw(points)))
            bounds = zip([0, *cuts], [*cuts, len(response)], strict=True)
            for a, b in bounds:
                actions += router.app_data(response[a:b])
        assert not router.closed
        return b"".join(a.data for a in actions if isinstance(a, SendToClient))

    assert client_view(methods, run_with(True)) == client_view(methods, run_with(False))
