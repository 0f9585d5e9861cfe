"""Transcripts: Upgrade/CONNECT to sessions and to the app, and raw relays after them."""

from __future__ import annotations

from podtap.core.ids import RequestId
from podtap.core.routing import (
    CloseApp,
    CloseClient,
    Mode,
    OpenApp,
    RawPassthrough,
    RequestHead,
    SendToApp,
    SessionAbort,
    SessionRaw,
    SessionRawEnd,
    SessionRequestEnd,
    SessionRequestHead,
    SessionUpgraded,
    ShutdownApp,
    ShutdownClient,
)
from podtap.testing.playbook import IGNORE

from .helpers import (
    App,
    AppEof,
    Client,
    ClientAbort,
    ClientEof,
    End,
    Gone,
    Head,
    Raw,
    RawEnd,
    get,
    head_of,
    ok_head,
    run,
    sent,
    session_get,
    to_app,
)

WS = b"Upgrade: websocket\r\nConnection: Upgrade\r\n"
WS_HEADERS = ((b"Upgrade", b"websocket"), (b"Connection", b"Upgrade"))
SWITCHING = b"HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\r\n"
CL0 = ((b"Content-Length", b"0"),)


def test_matched_upgrade_hands_the_connection_to_the_session() -> None:
    router = run(
        [
            (Client(get(b"/ws", dev=b"s1", extra=WS) + b"early"), [
                head_of("s1", 1, "/ws", extra=WS_HEADERS),
                SessionRequestEnd("s1", RequestId(1)),
            ]),
            (Client(b"more"), []),  # held: it may be the new protocol
            (Head("s1", 1, 101, WS_HEADERS), [
                sent(SWITCHING),
                SessionUpgraded("s1", RequestId(1)),
                SessionRaw("s1", b"earlymore"),
            ]),
            (Client(b"frame"), [SessionRaw("s1", b"frame")]),
            (Raw("s1", b"reply"), [sent(b"reply")]),
            (Raw("s2", b"not yours"), []),
            (ClientEof(), [SessionRawEnd("s1")]),
            (RawEnd("s1"), [ShutdownClient(), CloseClient()]),
        ]
    )  # fmt: skip
    assert router.closed


def test_upgrade_waits_for_earlier_responses() -> None:
    run(
        [
            (Client(get(b"/1", dev=b"s2") + get(b"/ws", dev=b"s1", extra=WS)), [
                *session_get("s2", 1, "/1"),
                head_of("s1", 2, "/ws", extra=WS_HEADERS),
                SessionRequestEnd("s1", RequestId(2)),
            ]),
            (Head("s1", 2, 101, WS_HEADERS), []),
            (Raw("s1", b"hello"), []),
            (Head("s2", 1, 200, CL0), [sent(ok_head(0))]),
            (End("s2", 1), [sent(SWITCHING + b"hello"), SessionUpgraded("s1", RequestId(2))]),
            (Raw("s1", b"!"), [sent(b"!")]),
        ]
    )  # fmt: skip


def test_session_gone_after_upgrade_closes_the_client() -> None:
    run(
        [
            (Client(get(b"/ws", dev=b"s1", extra=WS)), IGNORE),
            (Head("s1", 1, 101, WS_HEADERS), IGNORE),
            (Gone("s1"), [CloseClient()]),
            (Client(b"late"), []),
        ]
    )


def test_unmatched_upgrade_becomes_raw_passthrough_after_the_apps_101() -> None:
    router = run(
        [
            (Client(get(b"/ws", extra=WS) + b"early"), [
                OpenApp(),
                SendToApp(to_app(b"/ws", extra=WS)),
            ]),
            (App(SWITCHING + b"server-first"), [
                sent(SWITCHING),
                sent(b"server-first"),
                SendToApp(b"early"),
                RawPassthrough(),
            ]),
            (Client(b"x"), [SendToApp(b"x")]),
            (App(b"y"), [sent(b"y")]),
            (AppEof(), [ShutdownClient()]),
            (ClientEof(), [ShutdownApp(), CloseApp(), CloseClient()]),
        ]
    )  # fmt: skip
    assert router.mode is Mode.CLOSED


def test_upgrade_refused_by_the_app_keeps_parsing_http() -> None:
    refused = b"HTTP/1.1 400 Bad Request\r\nContent-Length: 0\r\n\r\n"
    run(
        [
            (Client(get(b"/ws", extra=WS) + get(b"/next")), [
                OpenApp(),
                SendToApp(to_app(b"/ws", extra=WS)),
            ]),
            (App(refused), [sent(refused), SendToApp(to_app(b"/next"))]),
        ]
    )  # fmt: skip


def test_connect_to_a_session() -> None:
    connect = b"CONNECT db:5432 HTTP/1.1\r\nHost: db:5432\r\nX-Dev: s1\r\n\r\n"
    head = RequestHead("CONNECT", "db:5432", ((b"Host", b"db:5432"), (b"X-Dev", b"s1")))
    run(
        [
            (Client(connect + b"\x00\x01"), [
                SessionRequestHead("s1", RequestId(1), head),
                SessionRequestEnd("s1", RequestId(1)),
            ]),
            (Head("s1", 1, 200), [
                sent(b"HTTP/1.1 200 OK\r\n\r\n"),
                SessionUpgraded("s1", RequestId(1)),
                SessionRaw("s1", b"\x00\x01"),
            ]),
            (End("s1", 1), []),  # nothing more to end
            (Raw("s1", b"\x02"), [sent(b"\x02")]),
        ]
    )  # fmt: skip


def test_session_101_without_upgrade_request_is_a_bad_gateway() -> None:
    router = run([(Client(get(b"/", dev=b"s1")), session_get("s1", 1, "/"))])
    actions = router.session_response_head("s1", RequestId(1), 101, WS_HEADERS)
    assert len(actions) == 1
    assert isinstance(actions[0], type(sent(b"")))
    assert actions[0].data.startswith(b"HTTP/1.1 502 Bad Gateway\r\n")
    assert router.mode is Mode.HTTP


def test_client_abort_while_a_101_waits_aborts_that_session_too() -> None:
    run(
        [
            (Client(get(b"/1", dev=b"s2") + get(b"/ws", dev=b"s1", extra=WS)), IGNORE),
            (Head("s1", 2, 101, WS_HEADERS), []),
            (ClientAbort(), [
                SessionAbort("s2", RequestId(1)),
                SessionAbort("s1", RequestId(2)),
                CloseClient(),
            ]),
        ]
    )  # fmt: skip


def test_session_gone_while_its_101_waits_closes_in_turn() -> None:
    run(
        [
            (Client(get(b"/1", dev=b"s2") + get(b"/ws", dev=b"s1", extra=WS)), IGNORE),
            (Head("s1", 2, 101, WS_HEADERS), []),
            (Gone("s1"), []),
            (Head("s2", 1, 200, CL0), [sent(ok_head(0))]),
            (End("s2", 1), [sent(SWITCHING), CloseClient()]),  # accepted, then gone
        ]
    )  # fmt: skip
