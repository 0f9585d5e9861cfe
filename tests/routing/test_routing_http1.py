"""Transcripts of Http1Router on well-formed HTTP/1.1: keep-alive, pipelining, bodies."""

from __future__ import annotations

from podtap.core.ids import RequestId
from podtap.core.routing import (
    CloseApp,
    CloseClient,
    OpenApp,
    SendToApp,
    SessionRequestBody,
    SessionRequestEnd,
)

from .helpers import (
    XFF,
    App,
    AppEof,
    Body,
    Client,
    ClientEof,
    End,
    Head,
    get,
    head_of,
    ok,
    ok_head,
    run,
    sent,
    session_get,
    to_app,
)

CL2 = ((b"Content-Length", b"2"),)
R1 = RequestId(1)


def test_keep_alive_with_mixed_routes() -> None:
    run(
        [
            (Client(get(b"/a", dev=b"s1")), session_get("s1", 1, "/a")),
            (Head("s1", 1, 200, CL2), [sent(b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\n")]),
            (Body("s1", 1, b"hi"), [sent(b"hi")]),
            (End("s1", 1), []),
            (Client(get(b"/b")), [OpenApp(), SendToApp(to_app(b"/b"))]),
            (App(ok(b"app")), [sent(ok_head(3)), sent(b"app")]),
            (Client(get(b"/c", dev=b"s2")), session_get("s2", 3, "/c")),  # ids count every request
            (Head("s2", 3, 204), [sent(b"HTTP/1.1 204 No Content\r\n\r\n")]),
            (End("s2", 3), []),
            (Client(get(b"/d")), [SendToApp(to_app(b"/d"))]),  # same upstream, no OpenApp
            (App(ok(b"")), [sent(ok(b""))]),
            (ClientEof(), [CloseApp(), CloseClient()]),
        ]
    )


def test_pipelined_responses_go_back_in_request_order() -> None:
    head3 = ok_head(3)
    run(
        [
            (
                Client(get(b"/1", dev=b"s1") + get(b"/2", dev=b"s2") + get(b"/3")),
                [
                    *session_get("s1", 1, "/1"),
                    *session_get("s2", 2, "/2"),
                    OpenApp(),
                    SendToApp(to_app(b"/3")),
                ],
            ),
            (Head("s2", 2, 200, ((b"Content-Length", b"3"),)), []),  # held: /1 is owed first
            (Body("s2", 2, b"two"), []),
            (App(ok(b"three")), []),
            (End("s2", 2), []),
            (Head("s1", 1, 200, ((b"Content-Length", b"3"),)), [sent(head3)]),
            (Body("s1", 1, b"one"), [sent(b"one")]),
            (End("s1", 1), [sent(head3 + b"two"), sent(ok(b"three"))]),
        ]
    )


def test_second_app_request_waits_for_the_first_response() -> None:
    run(
        [
            (Client(get(b"/1") + get(b"/2")), [OpenApp(), SendToApp(to_app(b"/1"))]),
            (App(ok(b"one")[:-1]), [sent(ok_head(3)), sent(b"on")]),
            (App(b"e"), [sent(b"e"), SendToApp(to_app(b"/2"))]),
            (App(ok(b"two")), [sent(ok_head(3)), sent(b"two")]),
        ]
    )


def test_content_length_body_streams_to_session_in_pieces() -> None:
    post = b"POST /up HTTP/1.1\r\nHost: svc\r\nX-Dev: s1\r\nContent-Length: 10\r\n\r\n"
    head = head_of("s1", 1, "/up", method="POST", extra=((b"Content-Length", b"10"),))
    run(
        [
            (Client(post + b"0123"), [head, SessionRequestBody("s1", R1, b"0123")]),
            (Client(b"456"), [SessionRequestBody("s1", R1, b"456")]),
            (Client(b"789"), [SessionRequestBody("s1", R1, b"789"), SessionRequestEnd("s1", R1)]),
        ]
    )


def test_chunked_body_streams_to_session_with_trailers() -> None:
    post = b"POST /up HTTP/1.1\r\nHost: svc\r\nX-Dev: s1\r\nTransfer-Encoding: chunked\r\n\r\n"
    head = head_of("s1", 1, "/up", method="POST", extra=((b"Transfer-Encoding", b"chunked"),))
    run(
        [
            (Client(post + b"4\r\nWiki\r\n5\r\npe"), [
                head,
                SessionRequestBody("s1", R1, b"Wiki"),
                SessionRequestBody("s1", R1, b"pe"),
            ]),
            (Client(b"dia\r\n0\r\nX-Sum: 1\r\n\r\n"), [
                SessionRequestBody("s1", R1, b"dia"),
                SessionRequestEnd("s1", R1, ((b"X-Sum", b"1"),)),
            ]),
        ]
    )  # fmt: skip


def test_bodies_stream_to_the_app_as_they_arrive() -> None:
    post = b"POST /up HTTP/1.1\r\nHost: svc\r\nContent-Length: 10\r\n\r\n"
    post_out = post[:-2] + XFF + b"\r\n"
    chunked = b"PUT /c HTTP/1.1\r\nHost: svc\r\nTransfer-Encoding: chunked\r\n\r\n"
    chunked_out = chunked[:-2] + XFF + b"\r\n"
    run(
        [
            (Client(post + b"0123"), [OpenApp(), SendToApp(post_out), SendToApp(b"0123")]),
            (Client(b"456789"), [SendToApp(b"456789")]),
            (App(ok(b"")), [sent(ok(b""))]),
            (Client(chunked + b"4\r\nWiki\r\n5\r\npe"), [
                SendToApp(chunked_out),
                SendToApp(b"4\r\nWiki\r\n"),
                SendToApp(b"2\r\npe\r\n"),
            ]),
            (Client(b"dia\r\n0\r\nX-Sum: 1\r\n\r\n"), [
                SendToApp(b"3\r\ndia\r\n"),
                SendToApp(b"0\r\nX-Sum: 1\r\n\r\n"),
            ]),
        ]
    )  # fmt: skip


def test_expect_continue_to_a_session_is_answered_by_the_router() -> None:
    post = (
        b"POST /up HTTP/1.1\r\nHost: svc\r\nX-Dev: s1\r\nExpect: 100-continue\r\n"
        b"Content-Length: 2\r\n\r\n"
    )
    extra = ((b"Expect", b"100-continue"), (b"Content-Length", b"2"))
    run(
        [
            (Client(post), [
                head_of("s1", 1, "/up", method="POST", extra=extra),
                sent(b"HTTP/1.1 100 Continue\r\n\r\n"),
            ]),
            (Client(b"ok"), [SessionRequestBody("s1", R1, b"ok"), SessionRequestEnd("s1", R1)]),
            (Head("s1", 1, 100), []),  # the session's own 100 is redundant
            (Head("s1", 1, 201, (*CL2, (b"Location", b"/up/1"))), [
                sent(b"HTTP/1.1 201 Created\r\nContent-Length: 2\r\nLocation: /up/1\r\n\r\n"),
            ]),
            (Body("s1", 1, b"ok"), [sent(b"ok")]),
            (End("s1", 1), []),
        ]
    )  # fmt: skip


def test_expect_continue_to_the_app_is_forwarded_and_its_100_relayed() -> None:
    post = b"POST /up HTTP/1.1\r\nHost: svc\r\nExpect: 100-continue\r\nContent-Length: 2\r\n\r\n"
    run(
        [
            (Client(post), [OpenApp(), SendToApp(post[:-2] + XFF + b"\r\n")]),
            (App(b"HTTP/1.1 100 Continue\r\n\r\n"), [sent(b"HTTP/1.1 100 Continue\r\n\r\n")]),
            (Client(b"ok"), [SendToApp(b"ok")]),
            (App(ok(b"")), [sent(ok(b""))]),
        ]
    )


def test_x_forwarded_for_is_appended_to_an_existing_one() -> None:
    request = get(b"/", extra=b"X-Forwarded-For: 192.0.2.7\r\nAccept: */*\r\n")
    expected = (
        b"GET / HTTP/1.1\r\nHost: svc\r\nX-Forwarded-For: 192.0.2.7, 10.1.2.3\r\n"
        b"Accept: */*\r\n\r\n"
    )
    run([(Client(request), [OpenApp(), SendToApp(expected)])])


def test_session_response_is_framed_by_h11_without_hop_by_hop_headers() -> None:
    headers = (
        (b"Transfer-Encoding", b"chunked"),
        (b"Connection", b"keep-alive, X-Private"),
        (b"Keep-Alive", b"timeout=5"),
        (b"X-Private", b"1"),
        (b"X-A", b"1"),
    )
    run(
        [
            (Client(get(b"/", dev=b"s1")), session_get("s1", 1, "/")),
            (Head("s1", 1, 200, headers, "Fine"), [
                sent(b"HTTP/1.1 200 Fine\r\nX-A: 1\r\nTransfer-Encoding: chunked\r\n\r\n"),
            ]),
            (Body("s1", 1, b"abc"), [sent(b"3\r\nabc\r\n")]),
            (End("s1", 1, ((b"X-T", b"9"),)), [sent(b"0\r\nX-T: 9\r\n\r\n")]),
        ]
    )  # fmt: skip


def test_app_responses_are_relayed_chunked_and_close_delimited() -> None:
    chunked = b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n"
    run(
        [
            (Client(get(b"/1")), [OpenApp(), SendToApp(to_app(b"/1"))]),
            (App(chunked + b"3\r\nabc\r\n0\r\nX-T: 1\r\n\r\n"), [
                sent(chunked),
                sent(b"3\r\nabc\r\n"),
                sent(b"0\r\nX-T: 1\r\n\r\n"),
            ]),
            (Client(get(b"/2")), [SendToApp(to_app(b"/2"))]),
            (App(b"HTTP/1.0 200 OK\r\nServer: old\r\n\r\nhello"), [
                sent(b"HTTP/1.1 200 OK\r\nServer: old\r\nTransfer-Encoding: chunked\r\n\r\n"),
                sent(b"5\r\nhello\r\n"),
            ]),
            (AppEof(), [sent(b"0\r\n\r\n"), CloseApp()]),  # the end of the body
            (Client(get(b"/3")), [OpenApp(), SendToApp(to_app(b"/3"))]),
        ]
    )  # fmt: skip
