"""Bounded buffering: pause signals for sessions, the app and the client; pipeline limit."""

from __future__ import annotations

from podtap.core.ids import RequestId
from podtap.core.routing import OpenApp, SendToApp, SendToClient

from .helpers import get, new_router, ok_head, session_get, to_app

R1, R2 = RequestId(1), RequestId(2)
CL0 = [(b"Content-Length", b"0")]


def test_session_is_paused_while_its_queued_response_exceeds_max_buffer() -> None:
    router = new_router(max_buffer=64)
    router.client_data(get(b"/1", dev=b"s1") + get(b"/2", dev=b"s2"))
    assert router.session_response_head("s2", R2, 200, [(b"Content-Length", b"100")]) == []
    assert not router.wants_session_pause("s2")
    assert router.session_response_body("s2", R2, b"x" * 60) == []
    assert router.wants_session_pause("s2")
    assert not router.wants_session_pause("s1")
    router.session_response_head("s1", R1, 200, CL0)
    actions = router.session_response_end("s1", R1)
    assert actions == [SendToClient(ok_head(100) + b"x" * 60)]
    assert not router.wants_session_pause("s2")
    assert router.session_response_body("s2", R2, b"y" * 40) == [SendToClient(b"y" * 40)]


def test_app_is_paused_while_its_response_waits_behind_a_session() -> None:
    router = new_router(max_buffer=64)
    router.client_data(get(b"/1", dev=b"s1") + get(b"/2"))
    assert router.app_data(ok_head(1000) + b"z" * 100) == []
    assert router.wants_app_pause()
    router.session_response_head("s1", R1, 200, CL0)
    router.session_response_end("s1", R1)
    assert not router.wants_app_pause()


def test_client_is_paused_while_an_app_request_waits_for_the_upstream() -> None:
    router = new_router(max_buffer=64)
    post = b"POST /2 HTTP/1.1\r\nHost: svc\r\nContent-Length: 1000\r\n\r\n"
    assert router.client_data(get(b"/1") + post) == [OpenApp(), SendToApp(to_app(b"/1"))]
    router.client_data(b"a" * 50)
    assert not router.wants_client_pause()
    router.client_data(b"a" * 50)
    assert router.wants_client_pause()
    actions = router.app_data(ok_head(0))
    assert actions[-2:] == [
        SendToApp(post[:-2] + b"X-Forwarded-For: 10.1.2.3\r\n\r\n"),
        SendToApp(b"a" * 100),
    ]
    assert not router.wants_client_pause()


def test_pipeline_limit_holds_further_requests_until_an_answer_is_done() -> None:
    router = new_router(max_pipeline=2)
    actions = router.client_data(b"".join(get(b"/%d" % i, dev=b"s1") for i in (1, 2, 3)))
    assert actions == [*session_get("s1", 1, "/1"), *session_get("s1", 2, "/2")]
    router.session_response_head("s1", R1, 200, CL0)
    actions = router.session_response_end("s1", R1)
    assert actions == session_get("s1", 3, "/3")
