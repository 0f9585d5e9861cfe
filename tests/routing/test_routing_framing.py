"""Transcripts: Connection: close on either side, HTTP/1.0, HEAD, 204 and 304, drain."""

from __future__ import annotations

from podtap.core.ids import RequestId
from podtap.core.routing import (
    CloseApp,
    CloseClient,
    OpenApp,
    RequestHead,
    SendToApp,
    SessionAbort,
    SessionRequestEnd,
    SessionRequestHead,
)

from .helpers import (
    App,
    Body,
    Client,
    Drain,
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

CL0 = ((b"Content-Length", b"0"),)
CLOSE = b"Connection: close\r\n"


def test_connection_close_from_the_client() -> None:
    run(
        [
            (Client(get(b"/1", extra=CLOSE) + get(b"/ignored")), [
                OpenApp(),
                SendToApp(to_app(b"/1", extra=CLOSE)),
            ]),
            (App(ok(b"")), [
                sent(b"HTTP/1.1 200 OK\r\nContent-Length: 0\r\nConnection: close\r\n\r\n"),
                CloseApp(),
                CloseClient(),
            ]),
        ]
    )  # fmt: skip
    run(
        [
            (Client(get(b"/1", dev=b"s1", extra=CLOSE)), [
                head_of("s1", 1, "/1", extra=((b"Connection", b"close"),)),
                SessionRequestEnd("s1", RequestId(1)),
            ]),
            (Head("s1", 1, 200, CL0), [
                sent(b"HTTP/1.1 200 OK\r\nContent-Length: 0\r\nConnection: close\r\n\r\n"),
            ]),
            (End("s1", 1), [CloseClient()]),
        ]
    )  # fmt: skip


def test_connection_close_from_the_app_ends_the_client_connection() -> None:
    closing = b"HTTP/1.1 200 OK\r\nConnection: close\r\nContent-Length: 0\r\n\r\n"
    run(
        [
            (Client(get(b"/1") + get(b"/2", dev=b"s1")), [
                OpenApp(),
                SendToApp(to_app(b"/1")),
                *session_get("s1", 2, "/2"),
            ]),
            (App(closing), [
                sent(closing),
                CloseApp(),
                SessionAbort("s1", RequestId(2)),
                CloseClient(),
            ]),
        ]
    )  # fmt: skip


def test_connection_close_from_a_session_is_not_passed_on() -> None:
    headers = ((b"Connection", b"close"), (b"Content-Length", b"0"))
    run(
        [
            (Client(get(b"/1", dev=b"s1")), session_get("s1", 1, "/1")),
            (Head("s1", 1, 200, headers), [sent(ok_head(0))]),
            (End("s1", 1), []),
            (Client(get(b"/2", dev=b"s1")), session_get("s1", 2, "/2")),
        ]
    )


def test_http_1_0_client() -> None:
    head = RequestHead("GET", "/old", ((b"X-Dev", b"s1"),), "1.0")
    run(
        [
            (Client(b"GET /old HTTP/1.0\r\nX-Dev: s1\r\n\r\n"), [
                SessionRequestHead("s1", RequestId(1), head),
                SessionRequestEnd("s1", RequestId(1)),
            ]),
            (Head("s1", 1, 200), [sent(b"HTTP/1.1 200 OK\r\nConnection: close\r\n\r\n")]),
            (Body("s1", 1, b"x"), [sent(b"x")]),
            (End("s1", 1), [CloseClient()]),
        ]
    )  # fmt: skip
    run(
        [
            (Client(b"GET /old HTTP/1.0\r\n\r\n"), [
                OpenApp(),
                SendToApp(b"GET /old HTTP/1.0\r\nX-Forwarded-For: 10.1.2.3\r\n\r\n"),
            ]),
            (App(b"HTTP/1.0 200 OK\r\n\r\nold"), [
                sent(b"HTTP/1.1 200 OK\r\nConnection: close\r\n\r\n"),
                sent(b"old"),
            ]),
        ]
    )  # fmt: skip


def test_head_204_and_304_have_no_body() -> None:
    run(
        [
            (Client(get(b"/h", dev=b"s1", method=b"HEAD")), [
                head_of("s1", 1, "/h", method="HEAD"),
                SessionRequestEnd("s1", RequestId(1)),
            ]),
            (Head("s1", 1, 200, ((b"Content-Length", b"10"),)), [sent(ok_head(10))]),
            (Body("s1", 1, b"dropped"), []),
            (End("s1", 1), []),
            (Client(get(b"/n", dev=b"s1")), session_get("s1", 2, "/n")),
            (Head("s1", 2, 204), [sent(b"HTTP/1.1 204 No Content\r\n\r\n")]),
            (Body("s1", 2, b"dropped"), []),
            (End("s1", 2), []),
            (Client(get(b"/h", method=b"HEAD")), [
                OpenApp(),
                SendToApp(to_app(b"/h", method=b"HEAD")),
            ]),
            (App(ok_head(10)), [sent(ok_head(10))]),
            (Client(get(b"/c")), [SendToApp(to_app(b"/c"))]),
            (App(b"HTTP/1.1 304 Not Modified\r\nContent-Length: 10\r\n\r\n"), [
                sent(b"HTTP/1.1 304 Not Modified\r\nContent-Length: 10\r\n\r\n"),
            ]),
            (Client(get(b"/d")), [SendToApp(to_app(b"/d"))]),
        ]
    )  # fmt: skip


def test_drain_closes_after_the_last_owed_response() -> None:
    run([(Drain(), [CloseClient()])])
    run(
        [
            (Client(get(b"/1", dev=b"s1") + get(b"/2", dev=b"s1")), [
                *session_get("s1", 1, "/1"),
                *session_get("s1", 2, "/2"),
            ]),
            (Drain(), []),
            (Head("s1", 1, 200, CL0), [sent(ok_head(0))]),
            (End("s1", 1), []),
            (Head("s1", 2, 200, CL0), [
                sent(b"HTTP/1.1 200 OK\r\nContent-Length: 0\r\nConnection: close\r\n\r\n"),
            ]),
            (End("s1", 2), [CloseClient()]),
            (Client(get(b"/3")), []),
        ]
    )  # fmt: skip
