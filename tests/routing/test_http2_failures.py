"""Http2Router failures: sessions gone or reset, the app failing or going away (GOAWAY),
client resets, client GOAWAY/EOF/abort, protocol errors, drain."""

from __future__ import annotations

from h2.errors import ErrorCodes
from hpack import Encoder, NeverIndexedHeaderTuple
from hyperframe.frame import HeadersFrame, RstStreamFrame

from podtap.core.ids import RequestId
from podtap.core.routing import (
    CloseApp,
    CloseClient,
    SendToApp,
    SendToClient,
    SessionAbort,
    SessionRequestBody,
    SessionRequestEnd,
    SessionRequestHead,
)

from .test_http2_harness import Wire, reopen, request

R1, R2, R3 = RequestId(1), RequestId(2), RequestId(3)


def test_session_gone_with_open_streams() -> None:
    wire = Wire()
    router = wire.router
    unanswered = wire.send_request(request(b"POST", b"/a", dev=b"s"), b"x", end=False)
    started = wire.send_request(request(b"GET", b"/b", dev=b"s"))
    other = wire.send_request(request(b"GET", b"/c", dev=b"t"))
    wire.feed(router.session_response_head("s", R2, 200, []))
    wire.feed(router.session_response_body("s", R2, b"partial"))
    wire.take_session()
    wire.feed(router.session_gone("s"))
    assert wire.session == []  # the session knows it is gone
    first = wire.client.streams[unanswered]
    assert first.status == 502 and first.ended
    assert b"session" in bytes(first.body)
    assert first.reset == ErrorCodes.NO_ERROR  # "stop sending the request body"
    second = wire.client.streams[started]
    assert second.status == 200 and second.reset == ErrorCodes.INTERNAL_ERROR
    assert router.session_routes() == {"t"}
    # the connection stays usable: the other session and new streams work
    wire.feed(router.session_response_head("t", R3, 200, []))
    wire.feed(router.session_response_end("t", R3))
    assert wire.client.streams[other].ended
    again = wire.send_request(request(b"GET", b"/d"))
    wire.app_respond(1, 200, b"ok")
    assert bytes(wire.client.streams[again].body) == b"ok"
    assert not router.closed and not wire.client_closed


def test_session_gone_after_a_complete_answer_still_delivers_it() -> None:
    wire = Wire(client_acks=False)
    router = wire.router
    sid = wire.send_request(request(dev=b"s"))
    wire.feed(router.session_response_head("s", R1, 200, []))
    wire.feed(router.session_response_body("s", R1, b"z" * 100_000))
    wire.feed(router.session_response_end("s", R1))
    wire.feed(router.session_gone("s"))
    wire.client.ack_all()
    wire.pump()
    wire.client.ack_all()
    wire.pump()
    answer = wire.client.streams[sid]
    assert len(answer.body) == 100_000 and answer.ended and answer.reset is None


def test_session_reset_gives_502_then_rst_once_the_head_went_out() -> None:
    wire = Wire()
    router = wire.router
    a = wire.send_request(request(b"HEAD", dev=b"s"))
    b = wire.send_request(request(dev=b"s"))
    wire.feed(router.session_reset("s", R1))
    assert wire.client.streams[a].status == 502
    assert wire.client.streams[a].body == b""  # HEAD
    wire.feed(router.session_response_head("s", R2, 200, []))
    wire.feed(router.session_reset("s", R2))
    assert wire.client.streams[b].reset == ErrorCodes.INTERNAL_ERROR


def test_body_before_head_from_a_session_is_a_502() -> None:
    wire = Wire()
    sid = wire.send_request(request(dev=b"s"))
    wire.feed(wire.router.session_response_body("s", R1, b"early"))
    assert wire.client.streams[sid].status == 502
    assert wire.router.session_response_head("s", R1, 200, []) == []


def test_app_connection_failure_gives_502_and_the_client_connection_stays_up() -> None:
    wire = Wire()
    router = wire.router
    sid = wire.send_request(request(b"POST", b"/a"), b"body")
    session_sid = wire.send_request(request(dev=b"s"))
    actions = router.app_eof()  # the connect failed
    assert CloseApp() in actions
    wire.feed(actions, "app")
    answer = wire.client.streams[sid]
    assert answer.status == 502 and answer.ended and b"application" in bytes(answer.body)
    assert not router.closed and not wire.client_closed
    # the session stream is unaffected, and the next app-bound stream reconnects
    wire.feed(router.session_response_head("s", R2, 200, []))
    wire.feed(router.session_response_end("s", R2))
    assert wire.client.streams[session_sid].ended
    again = wire.send_request(request(b"GET", b"/b"))
    assert wire.apps_opened == 2
    wire.app_respond(1, 200, b"back")
    assert bytes(wire.client.streams[again].body) == b"back"


def test_app_failure_mid_response_resets_the_stream() -> None:
    wire = Wire()
    router = wire.router
    done = wire.send_request(request(b"GET", b"/done"))
    wire.app_respond(1, 200, b"complete")
    midway = wire.send_request(request(b"GET", b"/midway"))
    wire.app_respond(3, 200, b"part", end=False)
    wire.feed(router.app_eof(), "app")
    assert bytes(wire.client.streams[done].body) == b"complete"
    assert wire.client.streams[midway].reset == ErrorCodes.INTERNAL_ERROR
    assert not router.closed


def test_app_protocol_error_closes_the_app_connection_only() -> None:
    wire = Wire()
    router = wire.router
    sid = wire.send_request(request())
    actions = router.app_data(b"\x00\x00\x08\x07\x00\x00\x00\x00\x01garbage!")
    close = actions.index(CloseApp())
    assert isinstance(actions[close - 1], SendToApp)  # h2's GOAWAY(PROTOCOL_ERROR) first
    wire.do(actions, "app")
    wire.pump()
    assert wire.client.streams[sid].status == 502
    assert not router.closed


def test_client_rst_stream_of_one_stream_leaves_the_others() -> None:
    wire = Wire()
    router = wire.router
    to_app = wire.send_request(request(b"POST", b"/a"), b"a", end=False)
    to_session = wire.send_request(request(b"POST", b"/b", dev=b"s"), b"b", end=False)
    kept = wire.send_request(request(b"GET", b"/c", dev=b"s"))
    wire.take_session()
    wire.client.conn.reset_stream(to_app, ErrorCodes.CANCEL)
    wire.client.conn.reset_stream(to_session, ErrorCodes.CANCEL)
    wire.pump()
    assert wire.app.streams[1].reset == ErrorCodes.CANCEL
    assert wire.take_session() == [SessionAbort("s", R2)]
    assert router.session_response_head("s", R2, 200, []) == []  # ignored from now on
    wire.feed(router.session_response_head("s", R3, 200, []))
    wire.feed(router.session_response_end("s", R3))
    assert wire.client.streams[kept].ended
    assert router.buffered == 0
    assert not router.closed


def test_client_reset_of_a_stream_waiting_for_the_app_credits_its_body() -> None:
    wire = Wire(app_acks=False)
    sid = wire.send_request(request(b"POST"), b"q" * 200_000, end=False)
    assert wire.router.buffered > 0
    wire.client.conn.reset_stream(sid, ErrorCodes.CANCEL)
    wire.pump()
    assert wire.router.buffered == 0
    # the client's connection window was credited: another large upload flows
    wire.app.ack_all()
    other = wire.send_request(request(b"POST", b"/2"), b"r" * 100_000)
    wire.app.ack_all()
    wire.pump()
    assert bytes(wire.app.streams[3].body) == b"r" * 100_000
    assert other == sid + 2


def test_app_graceful_goaway_finishes_old_streams_refuses_newer_and_reconnects() -> None:
    wire = Wire()
    old = wire.send_request(request(b"GET", b"/old"))
    newer = wire.send_request(request(b"GET", b"/newer"))
    first_app = wire.app
    first_app.conn.close_connection(last_stream_id=1)  # GOAWAY(NO_ERROR, last=1)
    wire.pump()
    assert wire.client.streams[newer].reset == ErrorCodes.REFUSED_STREAM
    later = wire.send_request(request(b"GET", b"/later"))
    assert wire.apps_opened == 1  # waits until the old connection is done
    # h2 refuses to send after its own GOAWAY, so the fake app answers with raw frames
    reopen(first_app.conn)
    wire.app_respond(1, 200, b"old done")
    assert bytes(wire.client.streams[old].body) == b"old done"
    assert wire.apps_opened == 2
    assert wire.app is not first_app
    wire.app_respond(1, 200, b"later done")
    assert bytes(wire.client.streams[later].body) == b"later done"
    assert "app: CloseApp()" in wire.transcript


def test_app_goaway_with_an_error_fails_its_streams() -> None:
    wire = Wire()
    sid = wire.send_request(request())
    wire.app.conn.close_connection(ErrorCodes.INTERNAL_ERROR)
    wire.pump()
    assert wire.client.streams[sid].status == 502
    assert wire.app_closed
    assert not wire.router.closed


def test_client_graceful_goaway_finishes_streams_then_closes() -> None:
    wire = Wire()
    router = wire.router
    sid = wire.send_request(request(dev=b"s"))
    app_sid = wire.send_request(request(b"GET", b"/app"))
    wire.client.conn.close_connection()
    # keep the fake client able to read (h2 closes its side after its own GOAWAY)
    reopen(wire.client.conn)
    wire.pump()
    assert not router.closed
    wire.feed(router.session_response_head("s", R1, 200, []))
    wire.feed(router.session_response_end("s", R1))
    assert not router.closed
    wire.app_respond(1, 200, b"bye")
    assert wire.client.streams[sid].ended and wire.client.streams[app_sid].ended
    assert router.closed and wire.client_closed and wire.app_closed


def test_client_goaway_with_an_error_abandons_everything() -> None:
    wire = Wire()
    wire.send_request(request(dev=b"s"))
    wire.send_request(request())
    wire.take_session()
    wire.client.conn.close_connection(ErrorCodes.PROTOCOL_ERROR)
    wire.pump()
    assert wire.take_session() == [SessionAbort("s", R1)]
    assert wire.router.closed and wire.client_closed and wire.app_closed


def test_client_protocol_error_sends_goaway_and_closes() -> None:
    wire = Wire()
    router = wire.router
    wire.send_request(request(b"POST", dev=b"s"), b"x", end=False)
    wire.take_session()
    # a DATA frame on stream 0 is a connection error
    actions = router.client_data(b"\x00\x00\x01\x00\x00\x00\x00\x00\x00x")
    assert actions[0] == SessionAbort("s", R1)
    assert isinstance(actions[1], SendToClient)
    assert actions[-1] == CloseClient()
    wire.do(actions)
    wire.client.receive()
    goaway = wire.goaways(wire.client)
    assert goaway and goaway[0].error_code == ErrorCodes.PROTOCOL_ERROR
    assert router.closed


def test_client_eof_delivers_complete_requests_and_abandons_the_rest() -> None:
    wire = Wire()
    router = wire.router
    complete = wire.send_request(request(dev=b"s"))
    wire.send_request(request(b"POST", dev=b"s"), b"half", end=False)
    wire.take_session()
    wire.feed(router.client_eof(), "client")
    assert wire.take_session() == [SessionAbort("s", R2)]
    assert not router.closed
    wire.feed(router.session_response_head("s", R1, 200, []))
    wire.feed(router.session_response_end("s", R1))
    assert wire.client.streams[complete].ended
    assert router.closed and wire.client_closed


def test_client_abort_drops_everything() -> None:
    wire = Wire()
    wire.send_request(request(dev=b"s"))
    wire.send_request(request())
    wire.take_session()
    actions = wire.router.client_abort()
    assert actions[0] == SessionAbort("s", R1)
    assert actions[-2:] == [CloseApp(), CloseClient()]
    assert not any(isinstance(a, SendToClient) for a in actions)
    assert wire.router.closed
    assert wire.router.client_data(b"more") == []
    assert wire.router.app_eof() == []


def test_drain_sends_goaway_finishes_streams_and_refuses_later_ones() -> None:
    wire = Wire()
    router = wire.router
    sid = wire.send_request(request(b"POST", dev=b"s"), b"a", end=False)
    wire.take_session()
    wire.feed(router.drain(), "control")
    goaway = wire.goaways(wire.client)
    assert len(goaway) == 1
    assert (goaway[0].error_code, goaway[0].last_stream_id) == (ErrorCodes.NO_ERROR, sid)
    assert not router.closed
    reopen(wire.client.conn)
    # a stream the client opened before it saw the GOAWAY is refused (h2 does not let the
    # fake client open one after a GOAWAY, so it is written by hand: HEADERS on stream 3)
    late = router.client_data(_headers_frame(3))
    refused = RstStreamFrame(3)
    refused.error_code = ErrorCodes.REFUSED_STREAM
    assert late == [SendToClient(refused.serialize())]
    assert wire.session == []
    wire.client.send_body(sid, b"b", end=True)
    wire.pump()
    assert wire.take_session() == [
        SessionRequestBody("s", R1, b"b"),
        SessionRequestEnd("s", R1, ()),
    ]
    wire.feed(router.session_response_head("s", R1, 200, []))
    wire.feed(router.session_response_end("s", R1))
    assert wire.client.streams[sid].ended
    assert router.closed and wire.client_closed


def _headers_frame(stream_id: int) -> bytes:
    """HEADERS(END_STREAM|END_HEADERS) for ``GET /`` that adds nothing to the HPACK table."""
    fields = [
        NeverIndexedHeaderTuple(name, value)
        for name, value in (
            (b":method", b"GET"),
            (b":scheme", b"http"),
            (b":authority", b"svc"),
            (b":path", b"/"),
        )
    ]
    frame = HeadersFrame(stream_id)
    frame.data = Encoder().encode(fields)
    frame.flags.add("END_STREAM")
    frame.flags.add("END_HEADERS")
    return frame.serialize()


def test_session_request_end_before_body_events_keep_order() -> None:
    wire = Wire()
    wire.send_request(request(b"POST", dev=b"s"), b"abc")
    actions = wire.take_session()
    assert [type(a) for a in actions] == [SessionRequestHead, SessionRequestBody, SessionRequestEnd]


def test_app_closing_an_idle_connection_is_reopened_for_the_next_stream() -> None:
    wire = Wire()
    first = wire.send_request(request())
    wire.app_respond(1, 200, b"1")
    assert wire.client.streams[first].ended
    actions = wire.router.app_eof()
    assert actions == [CloseApp()]
    wire.do(actions, "app")
    second = wire.send_request(request())
    assert wire.apps_opened == 2
    wire.app_respond(1, 200, b"2")
    assert bytes(wire.client.streams[second].body) == b"2"


def test_session_gone_with_a_held_grpc_head_gives_502() -> None:
    wire = Wire()
    sid = wire.send_request(request(b"POST", dev=b"s"))
    head = [(b"content-type", b"application/grpc"), (b"grpc-status", b"0")]
    wire.feed(wire.router.session_response_head("s", R1, 200, head))
    wire.feed(wire.router.session_gone("s"))
    answer = wire.client.streams[sid]
    assert answer.status == 502 and answer.ended and answer.reset is None
