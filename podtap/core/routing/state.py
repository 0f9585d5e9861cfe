"""State shared by the parts of :class:`~podtap.core.routing.http1.Http1Router`: the
queue of owed responses, mode changes (raw relays) and how exchanges end or fail."""

from __future__ import annotations

import enum
from collections import deque
from collections.abc import Callable, Hashable

import h11

from podtap.core.ids import RequestId
from podtap.core.routing.actions import (
    Action,
    CloseClient,
    RawPassthrough,
    Route,
    SendToApp,
    SendToClient,
    SessionAbort,
    SessionRaw,
    SessionRawEnd,
    SessionUpgraded,
    ShutdownApp,
    ShutdownClient,
)
from podtap.core.routing.exchange import Exchange
from podtap.core.routing.matcher import RequestHead
from podtap.core.routing.upstream import Upstream
from podtap.core.routing.wire import HeaderList, with_close

SESSION_GONE = "502 Bad Gateway: the podtap session handling this request went away"
SESSION_BAD = "502 Bad Gateway: the podtap session sent an invalid response"
APP_FAILED = "502 Bad Gateway: the application closed the connection or answered badly"


class Mode(enum.Enum):
    """What the router does with the connection's bytes."""

    HTTP = "http"  # parsing requests
    DRAIN_TO_RAW = "drain-to-raw"  # saw non-HTTP bytes: finish answered requests, then raw
    RAW = "raw"  # byte relay between client and app
    SESSION_RAW = "session-raw"  # upgraded: byte relay between client and one session
    CLOSED = "closed"


class RouterState:
    """Fields and shared steps of the router; the public API is on ``Http1Router``."""

    def __init__(
        self,
        *,
        route: Callable[[RequestHead], Route],
        client_addr: str,
        max_buffer: int = 1 << 20,
        max_pipeline: int = 16,
        max_head: int = 64 * 1024,
    ) -> None:
        self._route = route
        self._max_buffer = max_buffer
        self._max_pipeline = max(1, max_pipeline)
        self._max_head = max_head
        self._mode = Mode.HTTP
        self._next_id = 1
        self._order: deque[Exchange] = deque()  # responses still owed, in request order
        self._live: dict[RequestId, Exchange] = {}  # session exchanges not finished
        self._up = Upstream(forwarded_for=client_addr.encode("utf-8"), max_head=max_head)
        self._waiter: Exchange | None = None  # routed to the app while it was busy
        self._blocker: Exchange | None = None  # upgrade/CONNECT awaiting its response
        self._backlog = bytearray()  # client bytes not yet given to a parser
        self._reader: h11.Connection | None = None  # parses the current request
        self._head_raw: bytearray | None = None  # bytes of the request before its head parsed
        self._line_ok = False
        self._fed = False
        self._eof_fed = False
        self._current: Exchange | None = None  # exchange whose request is being read
        self._client_eof = False
        self._no_more_requests = False
        self._draining = False
        self._raw_client_eof = False
        self._raw_peer_eof = False
        self._raw_route: Hashable = None
        self._raw_request = RequestId(0)

    @property
    def mode(self) -> Mode:
        return self._mode

    @property
    def closed(self) -> bool:
        return self._mode is Mode.CLOSED

    def wants_client_pause(self) -> bool:
        """Stop reading the client until this turns false (re-check after every call)."""
        http = self._mode is Mode.HTTP or self._mode is Mode.DRAIN_TO_RAW
        return http and len(self._backlog) > self._max_buffer

    def wants_app_pause(self) -> bool:
        """Stop reading the app: its responses wait behind earlier responses."""
        queued = sum(ex.queued for ex in self._order if ex.route is None)
        return queued > self._max_buffer

    def wants_session_pause(self, route: Hashable) -> bool:
        """Stop reading (granting credit to) ``route``: its responses wait in the queue."""
        queued = sum(ex.queued for ex in self._order if ex.route == route)
        return queued > self._max_buffer

    @property
    def requests_started(self) -> int:
        """How many requests this router has begun to route."""
        return self._next_id - 1

    def at_rest(self) -> bool:
        """Between requests with nothing owed, read, held or pending on either side: the
        shell may hand the connection's next bytes to another handler (the fast path) and
        drop this router (after closing the app connection)."""
        return (
            self._mode is Mode.HTTP
            and not self._order
            and self._current is None
            and self._reader is None
            and not self._backlog
            and not self._live
            and self._up.exchange is None
            and self._waiter is None
            and self._blocker is None
            and not (self._client_eof or self._no_more_requests or self._draining)
        )

    def session_routes(self) -> set[Hashable]:
        """Sessions that still owe or receive something on this connection."""
        routes = {ex.route for ex in self._live.values()}
        if self._mode is Mode.SESSION_RAW:
            routes.add(self._raw_route)
        return routes

    def _pump(self, out: list[Action]) -> None:
        """Parse what the client sent, as far as allowed (see ``ClientSide``)."""
        raise NotImplementedError

    def _drop_reader(self) -> None:
        self._reader = None
        self._head_raw = None

    def _to_client(self, ex: Exchange, data: bytes, out: list[Action]) -> None:
        if not data:
            return
        if self._order and self._order[0] is ex:
            out.append(SendToClient(data))
        else:
            ex.queue.append(data)
            ex.queued += len(data)

    def _flush(self, out: list[Action]) -> None:
        order = self._order
        while order:
            ex = order[0]
            if ex.queue:
                out.append(SendToClient(b"".join(ex.queue)))
                ex.queue.clear()
                ex.queued = 0
            if not ex.complete:
                break
            order.popleft()
            if ex.switched and not ex.fatal:
                self._enter_switched(ex, out)
                return
            if ex.fatal or ex.conn.our_state is not h11.DONE:
                self._shutdown(out)
                return
            if self._blocker is ex:
                self._blocker = None
        if self._mode is Mode.DRAIN_TO_RAW:
            self._maybe_go_raw(out)
            return
        self._maybe_finish(out)
        self._pump(out)

    def _maybe_finish(self, out: list[Action]) -> None:
        if self._no_more_requests and not self._order and self._current is None:
            self._shutdown(out)

    def _maybe_go_raw(self, out: list[Action]) -> None:
        if self._order or self._current is not None:
            return  # answers still owed; _flush comes back here
        self._mode = Mode.RAW
        self._up.ensure_open(out)
        if self._backlog:
            out.append(SendToApp(bytes(self._backlog)))
            self._backlog.clear()
        out.append(RawPassthrough())
        if self._client_eof:
            self._raw_client_eof = True
            out.append(ShutdownApp())

    def _enter_switched(self, ex: Exchange, out: list[Action]) -> None:
        self._blocker = None
        leftover = bytes(self._backlog)
        self._backlog.clear()
        self._raw_client_eof = self._client_eof
        self._raw_peer_eof = ex.peer_raw_eof
        if ex.route is None:
            self._mode = Mode.RAW
            self._up.exchange = None
            if leftover:
                out.append(SendToApp(leftover))
            out.append(RawPassthrough())
            if self._raw_client_eof:
                out.append(ShutdownApp())
        else:
            self._mode = Mode.SESSION_RAW
            self._raw_route = ex.route
            self._raw_request = ex.request_id
            self._up.close(out)
            out.append(SessionUpgraded(ex.route, ex.request_id))
            if leftover:
                out.append(SessionRaw(ex.route, leftover))
            if self._raw_client_eof:
                out.append(SessionRawEnd(ex.route))
        if self._raw_peer_eof:
            out.append(ShutdownClient())
        self._maybe_close_raw(out)

    def _maybe_close_raw(self, out: list[Action]) -> None:
        if self._raw_client_eof and self._raw_peer_eof:
            self._up.close(out)
            out.append(CloseClient())
            self._mode = Mode.CLOSED

    def _close_session_raw(self) -> list[Action]:
        out: list[Action] = [CloseClient()]
        self._mode = Mode.CLOSED
        return out

    def _shutdown(self, out: list[Action]) -> None:
        if self._mode is Mode.CLOSED:
            return
        for ex in self._live.values():
            out.append(SessionAbort(ex.route, ex.request_id))
        self._live.clear()
        blocker = self._blocker  # a session whose 101 never reached the client
        if blocker is not None and blocker.route is not None and blocker.switched:
            out += [] if blocker.fatal else [SessionAbort(blocker.route, blocker.request_id)]
        self._up.close(out)
        out.append(CloseClient())
        self._mode = Mode.CLOSED
        self._order.clear()
        self._backlog.clear()
        self._drop_reader()
        self._current = self._waiter = self._blocker = None

    def _source_done(self, ex: Exchange) -> None:
        ex.source_done = True
        self._forget(ex)

    def _forget(self, ex: Exchange) -> None:
        if ex.source_done and ex.request_done:
            self._live.pop(ex.request_id, None)

    def _last_before_close(self, ex: Exchange) -> bool:
        """``ex`` is the last exchange of a draining connection."""
        if not self._draining or not self._order or self._order[-1] is not ex:
            return False
        return self._current is None or self._current is ex

    def _closing(self, ex: Exchange, headers: HeaderList) -> HeaderList:
        """Add ``Connection: close`` to the last response of a draining connection."""
        return with_close(headers) if self._last_before_close(ex) else headers

    def _fail(self, ex: Exchange, message: str, out: list[Action]) -> None:
        """No (more) response will come for ``ex``: answer 502, or close when its turn
        comes if part of a response was already serialised."""
        ex.source_done = True
        self._forget(ex)
        data = ex.error(502, message, close=self._last_before_close(ex))
        if data is None:
            ex.fatal = True
        else:
            self._to_client(ex, data, out)

    def _release_app(self, out: list[Action]) -> None:
        """The upstream is free: start the request that waited for it, if any."""
        self._up.exchange = None
        waiter = self._waiter
        if waiter is not None:
            self._waiter = None
            waiter.waiting_app = False
            self._up.start(waiter, out)
