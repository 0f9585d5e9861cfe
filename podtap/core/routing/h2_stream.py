"""One client stream of :class:`~podtap.core.routing.http2.Http2Router` (its request
going to a session or the app, its response), and the HTTP/2 error codes the router uses."""

from __future__ import annotations

from h2.errors import ErrorCodes

from podtap.core.ids import RequestId
from podtap.core.routing.actions import Route
from podtap.core.routing.h2_fields import Field
from podtap.core.routing.h2_peer import H2Peer, Outbox

NO_ERROR = int(ErrorCodes.NO_ERROR)
INTERNAL_ERROR = int(ErrorCodes.INTERNAL_ERROR)
REFUSED_STREAM = int(ErrorCodes.REFUSED_STREAM)
CANCEL = int(ErrorCodes.CANCEL)
STREAM_WINDOW = 1 << 18
"""Each stream's receive window (at most ``max_buffer``)."""


class H2Stream:
    """One client stream: its request going to a session or the app, its response."""

    __slots__ = (
        "app",
        "app_fields",
        "app_sid",
        "bodyless",
        "discard",
        "gone",
        "head_held",
        "head_sent",
        "length",
        "received",
        "req_done",
        "req_trailers",
        "request_id",
        "resp_trailers",
        "route",
        "sid",
        "source_done",
        "to_app",
        "to_client",
    )

    def __init__(self, sid: int, request_id: RequestId, route: Route, bodyless: bool) -> None:
        self.sid = sid
        self.request_id = request_id
        self.route = route  # None: the app
        self.app: H2Peer | None = None  # the app connection carrying it, once opened there
        self.app_sid = 0
        self.app_fields: list[Field] | None = None  # app-bound, waiting to be opened
        self.to_app = Outbox()  # request body for the app (app-bound streams)
        self.to_client = Outbox()  # response body for the client
        self.req_trailers: list[Field] = []
        self.resp_trailers: list[Field] = []
        self.req_done = False  # the client ended its request
        self.discard = False  # the rest of the request is read and dropped
        self.head_sent = False  # a final response head went to the client
        self.head_held: list[Field] | None = None  # a session's head held back (gRPC)
        self.source_done = False  # the app or session finished or failed the response
        self.bodyless = bodyless  # HEAD, 204, 304: a session's body chunks are dropped
        self.length: int | None = None  # a session response's content-length
        self.received = 0  # body bytes the session sent
        self.gone = False  # forgotten by the router
