"""Http2Router flow control: large bodies both ways, bounded buffering, pauses, stream limits."""

from __future__ import annotations

from h2.settings import SettingCodes

from podtap.core.ids import RequestId
from podtap.core.routing import SessionRequestBody, SessionRequestEnd

from .test_http2_harness import Wire, request

R1 = RequestId(1)
MIB = 1 << 20
STREAM_WINDOW = 1 << 18  # what the router grants each stream


def pattern(size: int, seed: int = 0) -> bytes:
    block = bytes((i * 7 + seed) % 251 for i in range(4096))
    return (block * (size // len(block) + 1))[:size]


def test_large_upload_to_a_slow_app_is_held_within_the_window() -> None:
    wire = Wire(app_acks=False)
    body = pattern(3 * MIB)
    sid = wire.send_request(request(b"POST", b"/up"), body)
    got = wire.app.streams[1]
    assert len(got.body) == 65535  # the app's initial window, nothing acknowledged yet
    assert wire.router.buffered == STREAM_WINDOW - 65535  # the rest of the stream's window
    rounds = 0
    while not got.ended:
        rounds += 1
        assert rounds < 200
        wire.app.ack_all()
        wire.pump()
        assert wire.router.buffered <= MIB
        assert not wire.router.wants_client_pause()
    assert bytes(got.body) == body
    assert wire.max_buffered <= MIB
    wire.app_respond(1, 200)
    assert wire.client.streams[sid].ended
    assert wire.router.buffered == 0


def test_large_download_to_a_slow_client_is_held_within_the_window() -> None:
    wire = Wire(client_acks=False)
    sid = wire.send_request(request(b"GET", b"/down"))
    body = pattern(3 * MIB, seed=3)
    wire.app_respond(1, 200, body)
    answer = wire.client.streams[sid]
    assert len(answer.body) == 65535
    assert wire.router.buffered <= MIB
    rounds = 0
    while not answer.ended:
        rounds += 1
        assert rounds < 200
        wire.client.ack_all()
        wire.pump()
        assert wire.router.buffered <= MIB
        assert not wire.router.wants_app_pause()
    assert bytes(answer.body) == body
    assert wire.max_buffered <= MIB
    assert wire.router.buffered == 0


def test_both_directions_at_once_with_a_small_buffer() -> None:
    limit = 128 * 1024
    wire = Wire(max_buffer=limit, client_acks=False, app_acks=False)
    up, down = pattern(2 * MIB, seed=1), pattern(2 * MIB, seed=2)
    sid = wire.send_request(request(b"POST", b"/echo"), up)
    wire.app_respond(1, 200, down)
    got, answer = wire.app.streams[1], wire.client.streams[sid]
    rounds = 0
    while not (got.ended and answer.ended):
        rounds += 1
        assert rounds < 500
        wire.app.ack_all()
        wire.client.ack_all()
        wire.pump()
    assert bytes(got.body) == up and bytes(answer.body) == down
    assert wire.max_buffered <= 2 * limit  # one window from each side


def test_large_upload_to_a_session_streams_through() -> None:
    wire = Wire()
    body = pattern(3 * MIB)
    wire.send_request(request(b"POST", dev=b"s"), body)
    actions = wire.take_session()
    chunks = [a.data for a in actions if isinstance(a, SessionRequestBody)]
    assert b"".join(chunks) == body
    assert actions[-1] == SessionRequestEnd("s", R1, ())
    assert wire.max_buffered == 0


def test_large_session_response_to_a_slow_client_pauses_the_session() -> None:
    wire = Wire(client_acks=False)
    router = wire.router
    sid = wire.send_request(request(dev=b"s"))
    wire.feed(router.session_response_head("s", R1, 200, []))
    body = pattern(3 * MIB, seed=5)
    chunk = 256 * 1024
    offset = 0
    answer = wire.client.streams[sid]
    rounds = 0
    while not answer.ended:
        rounds += 1
        assert rounds < 200
        while offset < len(body) and not router.wants_session_pause("s"):
            wire.feed(router.session_response_body("s", R1, body[offset : offset + chunk]))
            offset += chunk
        if offset >= len(body) and router.session_routes():
            wire.feed(router.session_response_end("s", R1))
        assert router.buffered <= MIB + chunk
        assert not router.wants_session_pause("other")
        wire.client.ack_all()
        wire.pump()
    assert bytes(answer.body) == body
    assert wire.max_buffered > MIB  # the session really was paused by the predicate
    assert wire.max_buffered <= MIB + chunk


def test_streams_beyond_the_apps_concurrency_limit_wait_for_a_free_slot() -> None:
    wire = Wire()
    first = wire.send_request(request(b"GET", b"/1"))
    wire.app.conn.update_settings({SettingCodes.MAX_CONCURRENT_STREAMS: 1})
    wire.pump()
    second = wire.send_request(request(b"POST", b"/2"), b"queued body")
    assert sorted(wire.app.streams) == [1]
    assert wire.router.buffered == len(b"queued body")
    wire.app_respond(1, 200, b"one")
    assert sorted(wire.app.streams) == [1, 3]
    assert bytes(wire.app.streams[3].body) == b"queued body"
    wire.app_respond(3, 200, b"two")
    assert bytes(wire.client.streams[first].body) == b"one"
    assert bytes(wire.client.streams[second].body) == b"two"
    assert wire.apps_opened == 1
