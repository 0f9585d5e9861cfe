"""Http2Router: per-stream routing to the app and to sessions, bodies, trailers (gRPC)."""

from __future__ import annotations

from h2.errors import ErrorCodes

from podtap.core.ids import RequestId
from podtap.core.protocol.http_filter import HttpFilter
from podtap.core.routing import (
    OpenApp,
    RequestHead,
    RouteTable,
    SessionAbort,
    SessionRequestBody,
    SessionRequestEnd,
    SessionRequestHead,
)

from .test_http2_harness import Wire, request

R1, R2, R3 = RequestId(1), RequestId(2), RequestId(3)
GRPC_REQUEST = [(b"content-type", b"application/grpc"), (b"te", b"trailers")]
GRPC_MESSAGE = b"\x00\x00\x00\x00\x05hello"


def test_app_bound_request_and_response_with_body() -> None:
    wire = Wire()
    sid = wire.send_request(request(b"POST", b"/upload", extra=[(b"x-a", b"1")]), b"payload")
    assert wire.apps_opened == 1
    assert "client: OpenApp()" in wire.transcript
    app_sid = 1
    got = wire.app.streams[app_sid]
    assert got.head == [
        (b":method", b"POST"),
        (b":scheme", b"http"),
        (b":authority", b"svc"),
        (b":path", b"/upload"),
        (b"x-a", b"1"),
        (b"x-forwarded-for", b"10.1.2.3"),
    ]
    assert bytes(got.body) == b"payload"
    assert got.ended
    wire.app_respond(app_sid, 201, b"stored", headers=[(b"content-type", b"text/plain")])
    answer = wire.client.streams[sid]
    assert answer.head == [(b":status", b"201"), (b"content-type", b"text/plain")]
    assert bytes(answer.body) == b"stored"
    assert answer.ended and answer.reset is None
    assert wire.session == []
    assert wire.router.buffered == 0
    assert not wire.router.closed


def test_bodyless_request_and_response_keep_end_stream_on_headers() -> None:
    wire = Wire()
    sid = wire.send_request(request(b"GET", b"/x"))
    assert wire.app.streams[1].ended_with_head
    wire.app_respond(1, 204)
    assert wire.client.streams[sid].ended_with_head
    assert wire.client.streams[sid].status == 204


def test_app_receives_x_forwarded_for_appended_to_the_clients() -> None:
    wire = Wire()
    wire.send_request(request(extra=[(b"x-forwarded-for", b"1.1.1.1")]))
    head = wire.app.streams[1].head
    assert head is not None
    assert (b"x-forwarded-for", b"1.1.1.1, 10.1.2.3") in head
    assert sum(name == b"x-forwarded-for" for name, _ in head) == 1


def test_session_bound_request_by_header_filter_with_body_and_response() -> None:
    table = RouteTable()
    table.add("alice", HttpFilter(header=r"^x-user: alice$"))
    wire = Wire(table)
    sid = wire.send_request(
        request(b"PUT", b"/items/7?v=2", extra=[(b"x-user", b"alice")]), b"body", end=False
    )
    head = RequestHead(
        "PUT", "/items/7?v=2", ((b"host", b"svc"), (b"x-user", b"alice")), http_version="2"
    )
    assert wire.take_session() == [
        SessionRequestHead("alice", R1, head),
        SessionRequestBody("alice", R1, b"body"),
    ]
    wire.client.send_body(sid, b"-more", end=True)
    wire.pump()
    assert wire.take_session() == [
        SessionRequestBody("alice", R1, b"-more"),
        SessionRequestEnd("alice", R1, ()),
    ]
    assert wire.apps_opened == 0
    router = wire.router
    wire.feed(router.session_response_head("alice", R1, 200, [(b"Content-Type", b"text/x")]))
    wire.feed(router.session_response_body("alice", R1, b"hi "))
    wire.feed(router.session_response_body("alice", R1, b"alice"))
    wire.feed(router.session_response_end("alice", R1))
    answer = wire.client.streams[sid]
    assert answer.head == [(b":status", b"200"), (b"content-type", b"text/x")]
    assert bytes(answer.body) == b"hi alice"
    assert answer.ended
    assert router.session_routes() == set()
    # a request without the header goes to the app
    wire.send_request(request(extra=[(b"x-user", b"bob")]))
    assert wire.apps_opened == 1


def test_host_from_authority_does_not_duplicate_a_host_field() -> None:
    heads: list[RequestHead] = []

    def route(head: RequestHead) -> str:
        heads.append(head)
        return "s"

    wire = Wire(route)
    wire.send_request(request(extra=[(b"x-a", b"1"), (b"host", b"svc")]))
    assert heads[0].headers == ((b"x-a", b"1"), (b"host", b"svc"))


def test_two_concurrent_streams_go_to_a_session_and_the_app() -> None:
    wire = Wire()
    s1 = wire.send_request(request(b"POST", b"/a", dev=b"s1"), b"to-session", end=False)
    s3 = wire.send_request(request(b"POST", b"/b"), b"to-app", end=False)
    s5 = wire.send_request(request(b"GET", b"/c", dev=b"s2"))
    actions = wire.take_session()
    assert [type(a) for a in actions] == [
        SessionRequestHead,
        SessionRequestBody,
        SessionRequestHead,
        SessionRequestEnd,
    ]
    keys = [(a.route, a.request_id) for a in actions if isinstance(a, SessionRequestHead)]
    assert keys == [("s1", R1), ("s2", R3)]
    assert actions[1] == SessionRequestBody("s1", R1, b"to-session")
    assert actions[3] == SessionRequestEnd("s2", R3, ())
    assert bytes(wire.app.streams[1].body) == b"to-app"
    # interleave: finish the app stream's request, answer the sessions, then the app
    wire.client.send_body(s3, b"!", end=True)
    wire.client.send_body(s1, b"!", end=True)
    wire.pump()
    assert wire.take_session() == [
        SessionRequestBody("s1", R1, b"!"),
        SessionRequestEnd("s1", R1, ()),
    ]
    router = wire.router
    wire.feed(router.session_response_head("s2", R3, 200, []))
    wire.feed(router.session_response_head("s1", R1, 202, []))
    wire.app_respond(1, 200, b"from-app", end=False)
    wire.feed(router.session_response_body("s1", R1, b"from-s1"))
    wire.feed(router.session_response_end("s2", R3))
    wire.app.send_body(1, b"", end=True)
    wire.pump()
    wire.feed(router.session_response_end("s1", R1))
    client = wire.client.streams
    assert (client[s1].status, bytes(client[s1].body), client[s1].ended) == (202, b"from-s1", True)
    assert (client[s3].status, bytes(client[s3].body), client[s3].ended) == (200, b"from-app", True)
    assert (client[s5].status, bytes(client[s5].body), client[s5].ended) == (200, b"", True)
    assert bytes(wire.app.streams[1].body) == b"to-app!"
    assert wire.apps_opened == 1
    assert router.session_routes() == set()


def test_grpc_call_to_a_session_with_trailers() -> None:
    wire = Wire()
    fields = request(b"POST", b"/pkg.Svc/Say", dev=b"dev", extra=GRPC_REQUEST)
    sid = wire.send_request(fields, GRPC_MESSAGE)
    actions = wire.take_session()
    assert isinstance(actions[0], SessionRequestHead)
    assert actions[0].head.headers == ((b"host", b"svc"), (b"x-dev", b"dev"), *GRPC_REQUEST)
    assert actions[1:] == [
        SessionRequestBody("dev", R1, GRPC_MESSAGE),
        SessionRequestEnd("dev", R1, ()),
    ]
    router = wire.router
    wire.feed(
        router.session_response_head("dev", R1, 200, [(b"content-type", b"application/grpc")])
    )
    wire.feed(router.session_response_body("dev", R1, GRPC_MESSAGE))
    wire.feed(
        router.session_response_end("dev", R1, [(b"grpc-status", b"0"), (b"grpc-message", b"")])
    )
    answer = wire.client.streams[sid]
    assert answer.status == 200
    assert bytes(answer.body) == GRPC_MESSAGE
    assert answer.trailers == [(b"grpc-status", b"0"), (b"grpc-message", b"")]
    assert answer.ended and answer.reset is None


def test_grpc_call_to_the_app_with_request_and_response_trailers() -> None:
    wire = Wire()
    fields = request(b"POST", b"/pkg.Svc/Say", extra=GRPC_REQUEST)
    sid = wire.send_request(fields, GRPC_MESSAGE, trailers=[(b"x-checksum", b"abc")])
    got = wire.app.streams[1]
    assert got.head is not None and (b"te", b"trailers") in got.head
    assert bytes(got.body) == GRPC_MESSAGE
    assert got.trailers == [(b"x-checksum", b"abc")]
    wire.app_respond(
        1,
        200,
        GRPC_MESSAGE,
        headers=[(b"content-type", b"application/grpc")],
        trailers=[(b"grpc-status", b"0")],
    )
    answer = wire.client.streams[sid]
    assert bytes(answer.body) == GRPC_MESSAGE
    assert answer.trailers == [(b"grpc-status", b"0")]
    assert answer.ended


def test_request_trailers_reach_the_session() -> None:
    wire = Wire()
    wire.send_request(request(b"POST", dev=b"s"), b"x", trailers=[(b"x-sum", b"1")])
    assert wire.take_session()[-1] == SessionRequestEnd("s", R1, ((b"x-sum", b"1"),))


def test_grpc_trailers_only_answer_from_a_session_is_one_headers_frame() -> None:
    wire = Wire()
    sid = wire.send_request(request(b"POST", b"/pkg.Svc/Missing", dev=b"dev"), GRPC_MESSAGE)
    router = wire.router
    head = [(b"content-type", b"application/grpc"), (b"grpc-status", b"12")]
    wire.feed(router.session_response_head("dev", R1, 200, head))
    assert wire.client.streams.get(sid) is None or wire.client.streams[sid].head is None
    wire.feed(router.session_response_end("dev", R1))
    answer = wire.client.streams[sid]
    assert answer.head == [(b":status", b"200"), *head]
    assert answer.ended_with_head and answer.trailers is None


def test_grpc_trailers_only_answer_from_the_app_stays_one_headers_frame() -> None:
    wire = Wire()
    sid = wire.send_request(request(b"POST", b"/pkg.Svc/Missing"), GRPC_MESSAGE)
    wire.app_respond(1, 200, headers=[(b"grpc-status", b"12")])
    assert wire.client.streams[sid].ended_with_head


def test_session_interim_response_then_final() -> None:
    wire = Wire()
    sid = wire.send_request(request(b"POST", dev=b"s", extra=[(b"expect", b"100-continue")]))
    router = wire.router
    wire.feed(router.session_response_head("s", R1, 100, []))
    wire.feed(router.session_response_head("s", R1, 200, []))
    wire.feed(router.session_response_end("s", R1))
    answer = wire.client.streams[sid]
    assert answer.informational == [[(b":status", b"100")]]
    assert answer.status == 200 and answer.ended


def test_connection_specific_and_bad_fields_from_a_session_are_dropped() -> None:
    wire = Wire()
    sid = wire.send_request(request(dev=b"s"))
    head = [
        (b"Connection", b"close, X-Hop"),
        (b"X-Hop", b"1"),
        (b"Keep-Alive", b"timeout=5"),
        (b"Transfer-Encoding", b"chunked"),
        (b"Upgrade", b"h2c"),
        (b"TE", b"gzip"),
        (b"Bad Name", b"x"),
        (b":authority", b"x"),
        (b"X-Split", b"a\r\nb"),
        (b"X-Fine", b" ok "),
    ]
    wire.feed(wire.router.session_response_head("s", R1, 200, head))
    wire.feed(wire.router.session_response_end("s", R1, [(b"Connection", b"x"), (b"X-T", b"1")]))
    answer = wire.client.streams[sid]
    assert answer.head == [(b":status", b"200"), (b"x-fine", b"ok")]
    assert answer.trailers == [(b"x-t", b"1")]


def test_head_request_body_from_a_session_is_dropped() -> None:
    wire = Wire()
    sid = wire.send_request(request(b"HEAD", dev=b"s"))
    router = wire.router
    wire.feed(router.session_response_head("s", R1, 200, [(b"content-length", b"5")]))
    wire.feed(router.session_response_body("s", R1, b"hello"))
    wire.feed(router.session_response_end("s", R1))
    answer = wire.client.streams[sid]
    assert answer.status == 200 and answer.body == b"" and answer.ended


def test_session_exceeding_its_content_length_gets_the_stream_reset() -> None:
    wire = Wire()
    sid = wire.send_request(request(dev=b"s"))
    router = wire.router
    wire.feed(router.session_response_head("s", R1, 200, [(b"content-length", b"3")]))
    wire.feed(router.session_response_body("s", R1, b"abcd"))
    assert wire.client.streams[sid].reset == ErrorCodes.INTERNAL_ERROR
    sid = wire.send_request(request(dev=b"s"))
    wire.feed(router.session_response_head("s", R2, 200, [(b"content-length", b"3")]))
    wire.feed(router.session_response_body("s", R2, b"ab"))
    wire.feed(router.session_response_end("s", R2))
    assert wire.client.streams[sid].reset == ErrorCodes.INTERNAL_ERROR
    assert not wire.router.closed


def test_events_for_unknown_or_finished_requests_are_ignored() -> None:
    wire = Wire()
    wire.send_request(request(dev=b"s"))
    router = wire.router
    assert router.session_response_head("other", R1, 200, []) == []
    assert router.session_response_head("s", RequestId(9), 200, []) == []
    wire.feed(router.session_response_head("s", R1, 200, []))
    wire.feed(router.session_response_end("s", R1))
    assert router.session_response_body("s", R1, b"late") == []
    assert router.session_response_end("s", R1) == []
    assert router.session_reset("s", R1) == []
    assert router.session_gone("s") == []
    assert router.session_gone(None) == []


def test_open_app_is_emitted_once_for_many_streams() -> None:
    wire = Wire()
    for _ in range(5):
        wire.send_request(request())
    assert wire.apps_opened == 1
    assert sum(isinstance(a, OpenApp) for a in wire.session) == 0
    assert sorted(wire.app.streams) == [1, 3, 5, 7, 9]


def test_session_answering_before_the_request_ends_still_gets_the_body() -> None:
    wire = Wire()
    sid = wire.send_request(request(b"POST", dev=b"s"), b"a", end=False)
    router = wire.router
    wire.feed(router.session_response_head("s", R1, 200, []))
    wire.feed(router.session_response_end("s", R1))
    assert wire.client.streams[sid].ended
    wire.client.send_body(sid, b"b", end=False)
    wire.pump()
    wire.client.conn.reset_stream(sid, ErrorCodes.CANCEL)
    wire.pump()
    assert wire.take_session()[-2:] == [
        SessionRequestBody("s", R1, b"b"),
        SessionAbort("s", R1),
    ]
    assert router.session_routes() == set()


def test_no_session_abort_once_the_exchange_is_complete() -> None:
    wire = Wire()
    wire.send_request(request(b"POST", dev=b"s"), b"a")
    router = wire.router
    wire.feed(router.session_response_head("s", R1, 200, []))
    wire.feed(router.session_response_end("s", R1))
    wire.do(router.client_eof())
    assert not any(isinstance(a, SessionAbort) for a in wire.session)
    assert router.closed and wire.client_closed


def test_app_answering_early_then_rst_no_error_stops_the_client_upload() -> None:
    wire = Wire()
    sid = wire.send_request(request(b"POST", b"/too-big"), b"x" * 1000, end=False)
    wire.app_respond(1, 413, b"no thanks")
    wire.app.conn.reset_stream(1, ErrorCodes.NO_ERROR)
    wire.pump()
    answer = wire.client.streams[sid]
    assert answer.status == 413 and bytes(answer.body) == b"no thanks" and answer.ended
    assert answer.reset == ErrorCodes.NO_ERROR
    assert wire.router.buffered == 0
    assert not wire.router.closed


def test_app_interim_response_is_relayed() -> None:
    wire = Wire()
    sid = wire.send_request(request(b"POST", extra=[(b"expect", b"100-continue")]), end=False)
    wire.app.conn.send_headers(1, [(b":status", b"100")])
    wire.pump()
    assert wire.client.streams[sid].informational == [[(b":status", b"100")]]
    wire.client.send_body(sid, b"body", end=True)
    wire.pump()
    wire.app_respond(1, 200, b"ok")
    assert wire.client.streams[sid].status == 200
    assert bytes(wire.app.streams[1].body) == b"body"
