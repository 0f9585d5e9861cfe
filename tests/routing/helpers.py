"""Playbook inputs and byte builders for Http1Router transcript tests."""

from __future__ import annotations

from collections.abc import Callable, Hashable, Iterable
from dataclasses import dataclass
from typing import Any

from podtap.core.ids import RequestId
from podtap.core.routing import (
    Action,
    Http1Router,
    RequestHead,
    SendToClient,
    SessionRequestEnd,
    SessionRequestHead,
)
from podtap.testing.playbook import play

CLIENT_ADDR = "10.1.2.3"
XFF = b"X-Forwarded-For: 10.1.2.3\r\n"


@dataclass(frozen=True)
class Client:
    data: bytes


@dataclass(frozen=True)
class ClientEof:
    pass


@dataclass(frozen=True)
class ClientAbort:
    pass


@dataclass(frozen=True)
class App:
    data: bytes


@dataclass(frozen=True)
class AppEof:
    pass


@dataclass(frozen=True)
class Head:
    route: str
    rid: int
    status: int
    headers: tuple[tuple[bytes, bytes], ...] = ()
    reason: str = ""


@dataclass(frozen=True)
class Body:
    route: str
    rid: int
    data: bytes


@dataclass(frozen=True)
class End:
    route: str
    rid: int
    trailers: tuple[tuple[bytes, bytes], ...] = ()


@dataclass(frozen=True)
class Gone:
    route: str


@dataclass(frozen=True)
class Reset:
    route: str
    rid: int


@dataclass(frozen=True)
class Raw:
    route: str
    data: bytes


@dataclass(frozen=True)
class RawEnd:
    route: str


@dataclass(frozen=True)
class Drain:
    pass


@dataclass(frozen=True)
class Force:
    pass


Input = (
    Client
    | ClientEof
    | ClientAbort
    | App
    | AppEof
    | Head
    | Body
    | End
    | Gone
    | Reset
    | Raw
    | RawEnd
    | Drain
    | Force
)


def route_by_header(head: RequestHead) -> Hashable | None:
    """``X-Dev: NAME`` sends the request to session ``NAME``; no header: the app."""
    for name, value in head.headers:
        if name.lower() == b"x-dev":
            return value.decode()
    return None


def new_router(**options: int) -> Http1Router:
    return Http1Router(route=route_by_header, client_addr=CLIENT_ADDR, **options)


def handler(router: Http1Router) -> Callable[[Input], list[Action]]:
    def handle(event: Input) -> list[Action]:
        match event:
            case Client(data):
                return router.client_data(data)
            case ClientEof():
                return router.client_eof()
            case ClientAbort():
                return router.client_abort()
            case App(data):
                return router.app_data(data)
            case AppEof():
                return router.app_eof()
            case Head(route, rid, status, headers, reason):
                return router.session_response_head(route, RequestId(rid), status, headers, reason)
            case Body(route, rid, data):
                return router.session_response_body(route, RequestId(rid), data)
            case End(route, rid, trailers):
                return router.session_response_end(route, RequestId(rid), trailers)
            case Gone(route):
                return router.session_gone(route)
            case Reset(route, rid):
                return router.session_reset(route, RequestId(rid))
            case Raw(route, data):
                return router.session_raw(route, data)
            case RawEnd(route):
                return router.session_raw_end(route)
            case Drain():
                return router.drain()
            case Force():
                return router.force_passthrough()
        raise AssertionError(event)

    return handle


def run(steps: Iterable[Any], router: Http1Router | None = None) -> Http1Router:
    """Play ``(input, expected actions | IGNORE)`` steps on ``router`` (default: a fresh
    one) with the playbook helper; returns the router."""
    router = router if router is not None else new_router()
    play(handler(router), steps)
    return router


def get(
    path: bytes, *, dev: bytes | None = None, extra: bytes = b"", method: bytes = b"GET"
) -> bytes:
    """A body-less request as a client sends it (``X-Dev`` picks a session)."""
    dev_line = b"X-Dev: " + dev + b"\r\n" if dev is not None else b""
    return method + b" " + path + b" HTTP/1.1\r\nHost: svc\r\n" + dev_line + extra + b"\r\n"


def to_app(path: bytes, *, extra: bytes = b"", method: bytes = b"GET") -> bytes:
    """What the app receives for ``get(path, extra=extra)``: the same plus X-Forwarded-For."""
    return method + b" " + path + b" HTTP/1.1\r\nHost: svc\r\n" + extra + XFF + b"\r\n"


def head_of(
    route: str,
    rid: int,
    path: str,
    *,
    method: str = "GET",
    extra: tuple[tuple[bytes, bytes], ...] = (),
) -> SessionRequestHead:
    headers = ((b"Host", b"svc"), (b"X-Dev", route.encode()), *extra)
    return SessionRequestHead(route, RequestId(rid), RequestHead(method, path, headers, "1.1"))


def session_get(route: str, rid: int, path: str) -> list[Action]:
    """Actions for a body-less request routed to ``route``."""
    return [head_of(route, rid, path), SessionRequestEnd(route, RequestId(rid))]


def ok(body: bytes, *, extra: bytes = b"") -> bytes:
    """A 200 response with Content-Length (as the app or the router writes it)."""
    return b"HTTP/1.1 200 OK\r\n" + extra + b"Content-Length: %d\r\n\r\n" % len(body) + body


def ok_head(length: int) -> bytes:
    return b"HTTP/1.1 200 OK\r\nContent-Length: %d\r\n\r\n" % length


def sent(data: bytes) -> SendToClient:
    return SendToClient(data)
