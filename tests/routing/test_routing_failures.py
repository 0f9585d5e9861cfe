"""Transcripts: non-HTTP bytes, broken requests, sessions and apps that go away, EOFs."""

from __future__ import annotations

from podtap.core.ids import RequestId
from podtap.core.routing import (
    CloseApp,
    CloseClient,
    Http1Router,
    Mode,
    OpenApp,
    RawPassthrough,
    RequestHead,
    SendToApp,
    SessionAbort,
    SessionRequestBody,
    SessionRequestEnd,
    ShutdownApp,
)
from podtap.core.routing.state import APP_FAILED, SESSION_BAD, SESSION_GONE
from podtap.testing.playbook import IGNORE

from .helpers import (
    CLIENT_ADDR,
    XFF,
    App,
    AppEof,
    Body,
    Client,
    ClientAbort,
    ClientEof,
    End,
    Force,
    Gone,
    Head,
    Reset,
    get,
    head_of,
    new_router,
    ok,
    ok_head,
    run,
    sent,
    session_get,
    to_app,
)

CL0 = ((b"Content-Length", b"0"),)
R1, R2 = RequestId(1), RequestId(2)


def bad_gateway(message: str, *, head: bool = False) -> bytes:
    body = message.encode() + b"\n"
    response = (
        b"HTTP/1.1 502 Bad Gateway\r\nContent-Type: text/plain; charset=utf-8\r\n"
        b"Content-Length: %d\r\n\r\n" % len(body)
    )
    return response if head else response + body


# ------------------------------------------------------------ not HTTP: fail open


def test_tls_at_the_start_is_passed_through_byte_for_byte() -> None:
    hello = b"\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03"
    router = run(
        [
            (Client(hello), [OpenApp(), SendToApp(hello), RawPassthrough()]),
            (Client(b"more"), [SendToApp(b"more")]),
            (App(b"\x16\x03\x03"), [sent(b"\x16\x03\x03")]),
        ]
    )
    assert router.mode is Mode.RAW


def test_silent_partial_lines_wait_then_fail_open_when_not_http() -> None:
    run(
        [
            (Client(b"GET / HT"), []),
            (
                Client(b"TP/2.0\r\n"),
                [OpenApp(), SendToApp(b"GET / HTTP/2.0\r\n"), RawPassthrough()],
            ),
        ]
    )


def test_other_protocols_and_malformed_heads_are_passed_through() -> None:
    for stream in (
        b"SSH-2.0-OpenSSH_9.2p1 Debian-2\r\n",
        b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n",
        b"*1\r\n$4\r\nPING\r\n",
        b"GET / HTTP/1.1\r\nHost svc\r\n\r\n",
        b"GET / HTTP/1.1\r\n\r\n",  # HTTP/1.1 without Host
        b"POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: gzip\r\n\r\n",
    ):
        run([(Client(stream), [OpenApp(), SendToApp(stream), RawPassthrough()])])


def test_empty_lines_before_a_request_are_ignored() -> None:
    run([(Client(b"\r\n\r\n" + get(b"/")), [OpenApp(), SendToApp(to_app(b"/"))])])


def test_garbage_between_requests_waits_for_owed_answers_then_passes_through() -> None:
    router = run(
        [
            (Client(get(b"/1", dev=b"s1") + b"\x00\x01garbage"), session_get("s1", 1, "/1")),
            (Client(b"tail"), []),
            (Head("s1", 1, 200, CL0), [sent(ok_head(0))]),
            (End("s1", 1), [OpenApp(), SendToApp(b"\x00\x01garbagetail"), RawPassthrough()]),
        ]
    )
    assert router.mode is Mode.RAW


def test_garbage_after_app_requests_reuses_the_upstream() -> None:
    run(
        [
            (Client(get(b"/1")), [OpenApp(), SendToApp(to_app(b"/1"))]),
            (App(ok(b"")), [sent(ok(b""))]),
            (Client(b"\x16\x03junk"), [SendToApp(b"\x16\x03junk"), RawPassthrough()]),
        ]
    )


def test_force_passthrough_replays_what_was_received() -> None:
    run([(Client(b"GE"), []), (Force(), [OpenApp(), SendToApp(b"GE"), RawPassthrough()])])
    run([(Force(), [OpenApp(), RawPassthrough()])])


# --------------------------------------------------- broken request bodies


def test_broken_chunked_body_to_a_session_aborts_it_and_closes_after_earlier_answers() -> None:
    post = b"POST /up HTTP/1.1\r\nHost: svc\r\nX-Dev: s1\r\nTransfer-Encoding: chunked\r\n\r\n"
    head = head_of("s1", 2, "/up", method="POST", extra=((b"Transfer-Encoding", b"chunked"),))
    run(
        [
            (Client(get(b"/1") + post + b"zz\r\n"), [
                OpenApp(),
                SendToApp(to_app(b"/1")),
                head,
                SessionAbort("s1", R2),
            ]),
            (Client(b"ignored"), []),
            (App(ok(b"one")), [sent(ok_head(3)), sent(b"one"), CloseApp(), CloseClient()]),
        ]
    )  # fmt: skip


def test_broken_body_to_the_app_closes_both_sides() -> None:
    post = b"PUT /c HTTP/1.1\r\nHost: svc\r\nTransfer-Encoding: chunked\r\n\r\n"
    run(
        [
            (Client(post + b"4\r\nWiki\r\nzz\r\n"), [
                OpenApp(),
                SendToApp(post[:-2] + XFF + b"\r\n"),
                SendToApp(b"4\r\nWiki\r\n"),
                CloseApp(),
                CloseClient(),
            ]),
        ]
    )  # fmt: skip


# ------------------------------------------------------------- sessions


def test_session_gone_answers_502_and_later_requests_are_routed_again() -> None:
    sessions = {"s1"}

    def route(head: RequestHead) -> str | None:
        dev = dict(head.headers).get(b"X-Dev", b"").decode()
        return dev if dev in sessions else None

    router = Http1Router(route=route, client_addr=CLIENT_ADDR)
    run(
        [
            (Client(get(b"/1", dev=b"s1") + get(b"/2")), [
                *session_get("s1", 1, "/1"),
                OpenApp(),
                SendToApp(to_app(b"/2")),
            ]),
            (Gone("s1"), [sent(bad_gateway(SESSION_GONE))]),
            (Head("s1", 1, 200, CL0), []),  # too late, ignored
            (App(ok(b"")), [sent(ok(b""))]),
        ],
        router,
    )  # fmt: skip
    sessions.clear()  # the shell removed the subscription
    run(
        [(Client(get(b"/3", dev=b"s1")), [SendToApp(to_app(b"/3", extra=b"X-Dev: s1\r\n"))])],
        router,
    )


def test_session_gone_mid_response_closes_the_client() -> None:
    run(
        [
            (Client(get(b"/1", dev=b"s1") + get(b"/2", dev=b"s2")), [
                *session_get("s1", 1, "/1"),
                *session_get("s2", 2, "/2"),
            ]),
            (Head("s1", 1, 200, ((b"Content-Length", b"5"),)), [sent(ok_head(5))]),
            (Body("s1", 1, b"ab"), [sent(b"ab")]),
            (Gone("s1"), [SessionAbort("s2", R2), CloseClient()]),
        ]
    )  # fmt: skip


def test_session_gone_during_the_request_body_discards_the_rest() -> None:
    post = b"POST /up HTTP/1.1\r\nHost: svc\r\nX-Dev: s1\r\nContent-Length: 6\r\n\r\n"
    head = head_of("s1", 1, "/up", method="POST", extra=((b"Content-Length", b"6"),))
    run(
        [
            (Client(post + b"abc"), [head, SessionRequestBody("s1", R1, b"abc")]),
            (Gone("s1"), [sent(bad_gateway(SESSION_GONE))]),
            (Client(b"def" + get(b"/next")), [OpenApp(), SendToApp(to_app(b"/next"))]),
        ]
    )


def test_session_reset_fails_one_exchange_and_head_requests_get_no_body() -> None:
    run(
        [
            (Client(get(b"/1", dev=b"s1", method=b"HEAD") + get(b"/2", dev=b"s1")), [
                head_of("s1", 1, "/1", method="HEAD"),
                SessionRequestEnd("s1", R1),
                *session_get("s1", 2, "/2"),
            ]),
            (Reset("s1", 1), [sent(bad_gateway(SESSION_GONE, head=True))]),
            (Head("s1", 2, 200, CL0), [sent(ok_head(0))]),
        ]
    )  # fmt: skip


def test_invalid_session_responses() -> None:
    run(
        [
            (Client(get(b"/1", dev=b"s1") + get(b"/2", dev=b"s1")), [
                *session_get("s1", 1, "/1"),
                *session_get("s1", 2, "/2"),
            ]),
            (Body("s1", 1, b"body before head"), [sent(bad_gateway(SESSION_BAD))]),
            (Head("s1", 2, 200, ((b"Content-Length", b"1"),)), [sent(ok_head(1))]),
            (Body("s1", 2, b"too long"), [CloseClient()]),
        ]
    )  # fmt: skip


# ------------------------------------------------------------------ EOFs


def test_client_eof() -> None:
    run([(ClientEof(), [CloseClient()])])
    run(
        [
            (Client(get(b"/1", dev=b"s1")), session_get("s1", 1, "/1")),
            (ClientEof(), []),  # half-close: the answer is still delivered
            (Head("s1", 1, 200, CL0), [sent(ok_head(0))]),
            (End("s1", 1), [CloseClient()]),
        ]
    )
    run([(Client(b"GET / HT"), []), (ClientEof(), [
        OpenApp(), SendToApp(b"GET / HT"), RawPassthrough(), ShutdownApp(),
    ])])  # fmt: skip


def test_client_eof_inside_a_body_aborts_the_session_exchange() -> None:
    post = b"POST /up HTTP/1.1\r\nHost: svc\r\nX-Dev: s1\r\nContent-Length: 6\r\n\r\n"
    run(
        [
            (Client(post + b"abc"), IGNORE),
            (ClientEof(), [SessionAbort("s1", R1), CloseClient()]),
        ]
    )


def test_client_abort_drops_everything() -> None:
    run(
        [
            (Client(get(b"/1", dev=b"s1") + get(b"/2")), IGNORE),
            (ClientAbort(), [SessionAbort("s1", R1), CloseApp(), CloseClient()]),
            (App(ok(b"")), []),
        ]
    )


def test_app_eof_when_idle_then_reopen() -> None:
    run(
        [
            (Client(get(b"/1")), [OpenApp(), SendToApp(to_app(b"/1"))]),
            (App(ok(b"")), [sent(ok(b""))]),
            (AppEof(), [CloseApp()]),
            (Client(get(b"/2")), [OpenApp(), SendToApp(to_app(b"/2"))]),
        ]
    )


def test_app_eof_before_the_response_is_a_502_and_the_next_request_reopens() -> None:
    run(
        [
            (Client(get(b"/1") + get(b"/2")), [OpenApp(), SendToApp(to_app(b"/1"))]),
            (AppEof(), [
                CloseApp(),
                sent(bad_gateway(APP_FAILED)),
                OpenApp(),
                SendToApp(to_app(b"/2")),
            ]),
            (App(ok(b"")), [sent(ok(b""))]),
        ]
    )  # fmt: skip


def test_app_eof_mid_response_closes_the_client() -> None:
    run(
        [
            (Client(get(b"/1")), IGNORE),
            (App(ok_head(10) + b"abc"), [sent(ok_head(10)), sent(b"abc")]),
            (AppEof(), [CloseApp(), CloseClient()]),
        ]
    )


def test_app_bytes_out_of_turn_close_the_upstream() -> None:
    timeout = b"HTTP/1.1 408 Request Timeout\r\nContent-Length: 0\r\n\r\n"
    run(
        [
            (Client(get(b"/1")), IGNORE),
            (App(ok(b"") + timeout), [sent(ok(b"")), CloseApp()]),
            (Client(get(b"/2")), [OpenApp(), SendToApp(to_app(b"/2"))]),
        ]
    )


def test_incomplete_head_longer_than_max_head_fails_open() -> None:
    big = get(b"/", extra=b"Cookie: " + b"c" * 100 + b"\r\n")
    router = new_router(max_head=64)
    steps = [
        (Client(big[:-2]), [OpenApp(), SendToApp(big[:-2]), RawPassthrough()]),
        (Client(b"\r\n"), [SendToApp(b"\r\n")]),
    ]
    run(steps, router)


def test_bad_app_response_head_is_a_502() -> None:
    run(
        [
            (Client(get(b"/1")), IGNORE),
            (App(b"HTTP/1.1 200 OK\r\nTransfer-Encoding: gzip\r\n\r\n"), [
                CloseApp(),
                sent(bad_gateway(APP_FAILED)),
            ]),
        ]
    )  # fmt: skip


def test_invalid_session_header_is_a_502() -> None:
    run(
        [
            (Client(get(b"/1", dev=b"s1")), IGNORE),
            (Head("s1", 1, 200, ((b"X-Bad", b"a\r\nInjected: 1"),)), [
                sent(bad_gateway(SESSION_BAD)),
            ]),
            (End("s1", 1), []),
        ]
    )  # fmt: skip
