"""Property tests: the fast path forwards exactly the requests h11 sees in the client's bytes
(plus X-Forwarded-For), however the bytes are split, and stops exactly at the first request
that is not plain, leaving its bytes untouched for the router."""

from __future__ import annotations

import itertools

import h11
from hypothesis import given, settings
from hypothesis import strategies as st

from podtap.core.protocol import HttpFilter
from podtap.core.routing import Http1FastPath, RouteTable

NAMES = ["Accept", "x-trace", "User-Agent", "X-Forwarded-For", "cookie", "X-User"]
VALUES = ["a", "b c", "bob", "1, 2", "*/*", "x=1; y=2", "ünï"]
OK = b"HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n"


@st.composite
def plain_request(draw: st.DrawFn) -> bytes:
    method = draw(st.sampled_from(["GET", "POST", "PUT", "DELETE", "OPTIONS"]))
    target = draw(st.sampled_from(["/", "/a/b?c=d", "/x%20y", "*", "http://h/p?q"]))
    lines = [f"{method} {target} HTTP/1.1", "Host: shop"]
    for _ in range(draw(st.integers(0, 4))):
        name = draw(st.sampled_from(NAMES))
        value = draw(st.sampled_from(VALUES))
        gap = draw(st.sampled_from(["", " ", "  ", "\t"]))
        if name.lower() == "x-user" and value == "alice":
            value = "bob"
        lines.append(f"{name}:{gap}{value}{draw(st.sampled_from(['', ' ']))}")
    body = draw(st.binary(max_size=40))
    if body or draw(st.booleans()):
        lines.append(f"Content-Length: {len(body)}")
    return ("\r\n".join(lines) + "\r\n\r\n").encode() + body


UNUSUAL = [
    b"GET / HTTP/1.1\r\nHost: s\r\nx-user: alice\r\n\r\n",  # a filter matches
    b"POST / HTTP/1.1\r\nHost: s\r\nTransfer-Encoding: chunked\r\n\r\n1\r\nx\r\n0\r\n\r\n",
    b"HEAD / HTTP/1.1\r\nHost: s\r\n\r\n",
    b"GET / HTTP/1.0\r\n\r\n",
    b"GET / HTTP/1.1\r\nHost: s\r\nUpgrade: websocket\r\nConnection: upgrade\r\n\r\n",
    b"GET / HTTP/1.1\r\nHost: s\r\nUpgrade: h2c\r\n\r\n",
    b"PUT / HTTP/1.1\r\nHost: s\r\nExpect: 100-continue\r\nContent-Length: 1\r\n\r\nx",
    b"PUT / HTTP/1.1\r\nHost: s\r\nContent-Length: 1\r\nContent-Length: 1\r\n\r\nx",
    b"GET / HTTP/1.1\r\nHost: s\r\nConnection: close\r\n\r\n",
    b"GET / HTTP/1.1\r\nHost: s\r\n folded\r\n\r\n",
    b"\x16\x03\x01\x02\x00garbage",
]


def fast_path() -> Http1FastPath:
    table = RouteTable()
    table.add("alice", HttpFilter(header=r"^x-user: alice$"))
    return Http1FastPath(route=table, client_addr="10.1.2.3")


def h11_requests(data: bytes) -> list[tuple[bytes, bytes, list[tuple[bytes, bytes]], bytes]]:
    """(method, target, headers, body) of every request h11 finds in `data`."""
    conn = h11.Connection(h11.SERVER)
    if not data:  # (empty data would tell h11 the connection closed)
        return []
    conn.receive_data(data)
    out: list[tuple[bytes, bytes, list[tuple[bytes, bytes]], bytes]] = []
    body = b""
    while True:
        event = conn.next_event()
        if event is h11.NEED_DATA:
            return out
        if isinstance(event, h11.Request):
            head = (event.method, event.target, list(event.headers.raw_items()))
            body = b""
        elif isinstance(event, h11.Data):
            body += event.data
        elif isinstance(event, h11.EndOfMessage):
            out.append((*head, body))
            conn.send(h11.Response(status_code=200, headers=[("content-length", "0")]))
            conn.send(h11.EndOfMessage())
            conn.start_next_cycle()


def split(data: bytes, cuts: list[int]) -> list[bytes]:
    points = sorted({c % (len(data) + 1) for c in cuts} | {0, len(data)})
    return [data[a:b] for a, b in itertools.pairwise(points)]


@settings(max_examples=300, deadline=None)
@given(
    requests=st.lists(plain_request(), min_size=1, max_size=6),
    cuts=st.lists(st.integers(0, 10_000), max_size=8),
)
def test_plain_requests_reach_the_app_as_h11_reads_them(
    requests: list[bytes], cuts: list[int]
) -> None:
    stream = b"".join(requests)
    fast = fast_path()
    sent = b"".join(fast.client_data(piece) for piece in split(stream, cuts))
    assert not fast.handoff and fast.sent == len(requests)
    expected = h11_requests(stream)
    got = h11_requests(sent)
    assert len(got) == len(expected) == len(requests)
    for (method, target, headers, body), (m, t, h, b) in zip(expected, got, strict=True):
        assert (m, t, b) == (method, target, body)
        xff = [v for n, v in h if n.lower() == b"x-forwarded-for"]
        assert xff and xff[-1].endswith(b"10.1.2.3")
        assert [x for x in h if x[0].lower() != b"x-forwarded-for"] == [
            x for x in headers if x[0].lower() != b"x-forwarded-for"
        ]
    for _ in requests:
        fast.app_data(OK)
    assert fast.idle


@settings(max_examples=200, deadline=None)
@given(
    before=st.lists(plain_request(), max_size=4),
    unusual=st.sampled_from(UNUSUAL),
    after=st.lists(plain_request(), max_size=2),
    cuts=st.lists(st.integers(0, 10_000), max_size=8),
)
def test_the_first_unusual_request_and_all_after_it_are_left_to_the_router(
    before: list[bytes], unusual: bytes, after: list[bytes], cuts: list[int]
) -> None:
    rest = unusual + b"".join(after)
    stream = b"".join(before) + rest
    fast = fast_path()
    sent = b"".join(fast.client_data(piece) for piece in split(stream, cuts))
    assert fast.handoff and fast.sent == len(before)
    assert len(h11_requests(sent)) == len(before)
    for _ in before:
        assert not fast.idle
        fast.app_data(OK)
    assert fast.idle
    assert fast.take_backlog() == rest
