"""Transcript tests of Http1FastPath: what reaches the app, when the router must take over,
and how the app's answers are counted (no sockets)."""

from __future__ import annotations

import pytest

from podtap.core.protocol import HttpFilter
from podtap.core.routing import Http1FastPath, RequestHead, RouteTable

XFF = b"X-Forwarded-For: 10.1.2.3\r\n"
OK = b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok"


def fast_path() -> Http1FastPath:
    table = RouteTable()
    table.add("alice", HttpFilter(header=r"^x-user: alice$"))
    return Http1FastPath(route=table, client_addr="10.1.2.3")


def get(path: str = "/", *extra: bytes) -> bytes:
    return b"GET " + path.encode() + b" HTTP/1.1\r\nHost: shop\r\n" + b"".join(extra) + b"\r\n"


def test_an_unmatched_request_goes_to_the_app_with_x_forwarded_for() -> None:
    fast = fast_path()
    assert fast.client_data(get("/a")) == b"GET /a HTTP/1.1\r\nHost: shop\r\n" + XFF + b"\r\n"
    assert (fast.sent, fast.take_passed(), fast.take_passed(), fast.idle) == (1, 1, 0, False)
    fast.app_data(OK)
    assert fast.idle and not fast.handoff


def test_pipelined_requests_split_anywhere_arrive_whole_and_in_order() -> None:
    fast = fast_path()
    post = b"POST /p HTTP/1.1\r\nHost: shop\r\nContent-Length: 5\r\n\r\nhello"
    stream = get("/1") + post + get("/2")
    sent = b"".join(fast.client_data(stream[i : i + 7]) for i in range(0, len(stream), 7))
    assert sent == (
        b"GET /1 HTTP/1.1\r\nHost: shop\r\n" + XFF + b"\r\n"
        b"POST /p HTTP/1.1\r\nHost: shop\r\nContent-Length: 5\r\n" + XFF + b"\r\nhello"
        b"GET /2 HTTP/1.1\r\nHost: shop\r\n" + XFF + b"\r\n"
    )
    assert fast.sent == 3
    fast.app_data(OK + OK[:10])
    assert not fast.idle
    fast.app_data(OK[10:] + OK)
    assert fast.idle


def test_a_body_is_streamed_not_buffered() -> None:
    fast = fast_path()
    head = b"PUT /big HTTP/1.1\r\nHost: shop\r\nContent-Length: 1000000\r\n\r\n"
    assert fast.client_data(head + b"x" * 10).endswith(XFF + b"\r\n" + b"x" * 10)
    assert fast.client_data(b"y" * 500_000) == b"y" * 500_000
    assert not fast.idle  # the body is not finished
    assert fast.client_data(b"z" * 499_990 + get("/next")).startswith(b"z" * 499_990 + b"GET")
    assert fast.sent == 2


def test_the_clients_own_x_forwarded_for_is_extended() -> None:
    fast = fast_path()
    out = fast.client_data(get("/", b"X-Forwarded-For: 192.0.2.9\r\n"))
    assert b"X-Forwarded-For: 192.0.2.9, 10.1.2.3\r\n" in out
    assert out.count(b"X-Forwarded-For") == 1


@pytest.mark.parametrize(
    "request_bytes",
    [
        get("/", b"x-user: alice\r\n"),  # a filter matches: the router routes it
        b"POST / HTTP/1.1\r\nHost: s\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n",
        get("/", b"Expect: 100-continue\r\nContent-Length: 3\r\n"),
        get("/", b"Upgrade: websocket\r\nConnection: Upgrade\r\n"),
        get("/", b"Connection: close\r\n"),
        b"HEAD / HTTP/1.1\r\nHost: s\r\n\r\n",  # its answer has no body to count
        b"GET / HTTP/1.0\r\n\r\n",
        b"GET / HTTP/1.1\r\n\r\n",  # no Host: h11's verdict
        get("/", b"Content-Length: 1\r\nContent-Length: 1\r\n"),
        get("/", b"Content-Length: +1\r\n"),
        get("/", b" folded: line\r\n"),
        b"GET / HTTP/1.1\nHost: s\n\n\r\n\r\n",  # bare LF
        b"\x16\x03\x01\x00\xa5binary",  # not HTTP at all (no head end needed to tell)
    ],
)
def test_anything_but_a_plain_unmatched_request_goes_to_the_router_untouched(
    request_bytes: bytes,
) -> None:
    fast = fast_path()
    first = get("/first")
    assert fast.client_data(first + request_bytes).startswith(b"GET /first")
    assert fast.handoff and not fast.idle  # the first request's answer is still owed
    assert fast.client_data(b"more") == b""  # held for the router too
    fast.app_data(OK)
    assert fast.idle
    assert fast.take_backlog() == request_bytes + b"more"
    assert fast.sent == 1


def test_a_head_that_never_ends_goes_to_the_router_past_the_limit() -> None:
    fast = Http1FastPath(route=RouteTable(), client_addr="10.1.2.3", max_head=100)
    assert fast.client_data(b"GET / HTTP/1.1\r\nHost: s\r\nX-Long: " + b"a" * 50) == b""
    assert not fast.handoff
    fast.client_data(b"a" * 60)
    assert fast.handoff and fast.idle


def test_interim_responses_are_not_counted_as_answers() -> None:
    fast = fast_path()
    fast.client_data(get())
    fast.app_data(b"HTTP/1.1 103 Early Hints\r\nLink: </a.css>\r\n\r\n")
    assert not fast.idle
    fast.app_data(b"HTTP/1.1 204 No Content\r\n\r\n")
    assert fast.idle


def test_chunked_and_bodiless_answers_are_counted() -> None:
    fast = fast_path()
    fast.client_data(get("/1") + get("/2") + get("/3"))
    fast.app_data(b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n")
    assert fast.answered == 0
    fast.app_data(b"0\r\n\r\nHTTP/1.1 304 Not Modified\r\nContent-Length: 10\r\n\r\n")
    assert fast.answered == 2
    fast.app_data(b"HTTP/1.1 204 No Content\r\n\r\n")
    assert fast.idle


def test_an_app_that_does_not_speak_http_turns_the_connection_into_a_relay() -> None:
    fast = fast_path()
    fast.client_data(get("/1") + get("/2", b"x-user: alice\r\n"))
    assert fast.handoff
    fast.app_data(b"SSH-2.0-OpenSSH_9.2\r\n")
    assert fast.raw and not fast.handoff  # nothing can be routed safely any more
    held = get("/2", b"x-user: alice\r\n")
    assert fast.client_data(b"") == held  # what waited goes to the app as it is
    assert fast.client_data(b"\x00\x01") == b"\x00\x01"


def test_route_sees_the_request_as_the_client_sent_it() -> None:
    seen: list[RequestHead] = []

    def route(head: RequestHead) -> None:
        seen.append(head)

    fast = Http1FastPath(route=route, client_addr="10.1.2.3")
    fast.client_data(b"DELETE /x?y=1 HTTP/1.1\r\nHost: shop\r\nX-Trace:  a b \t\r\n\r\n")
    assert seen == [
        RequestHead("DELETE", "/x?y=1", ((b"Host", b"shop"), (b"X-Trace", b"a b")), "1.1")
    ]


def test_the_router_is_at_rest_only_between_exchanges() -> None:
    """After the router handled a matched request (the fast path handed it over), the
    connection may go back to the fast path once nothing is in flight."""
    from podtap.core.ids import RequestId
    from podtap.core.routing import Http1Router

    table = RouteTable()
    table.add("alice", HttpFilter(header=r"^x-user: alice$"))
    router = Http1Router(route=table, client_addr="10.1.2.3")
    assert router.at_rest() and router.requests_started == 0
    router.client_data(get("/", b"x-user: alice\r\n"))
    assert not router.at_rest() and router.requests_started == 1
    router.session_response_head("alice", RequestId(1), 200, ((b"content-length", b"2"),))
    assert not router.at_rest()
    router.session_response_body("alice", RequestId(1), b"ok")
    router.session_response_end("alice", RequestId(1))
    assert router.at_rest()
    router.client_data(b"GET / HTTP/1.1\r\n")  # a head on its way
    assert not router.at_rest()


def test_a_long_run_of_blanks_in_a_header_is_read_in_linear_time() -> None:
    """Issue 9: the header scan was quadratic in a run of blanks (5 s for 60 KB, stalling
    every teammate's request on the pod); the value reaches the route trimmed, at once."""
    import time

    seen: list[RequestHead] = []

    def route(head: RequestHead) -> None:
        seen.append(head)

    fast = Http1FastPath(route=route, client_addr="10.1.2.3")
    blanks = b" \t" * 30_000
    started = time.perf_counter()
    out = fast.client_data(get("/", b"x-a: a" + blanks + b"b" + blanks + b"\r\n"))
    assert time.perf_counter() - started < 0.5
    assert out.startswith(b"GET / HTTP/1.1\r\n") and not fast.handoff
    assert dict(seen[0].headers)[b"x-a"] == b"a" + blanks + b"b"
