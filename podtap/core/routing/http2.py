"""Sans-IO HTTP/2 router for one intercepted client connection (filtered steal).

For clients that speak HTTP/2 with prior knowledge (cleartext ``h2c`` without an upgrade,
as gRPC does): the router terminates HTTP/2 towards the client with an h2 server
connection, routes every stream on its own with ``route(head)``, sends session-bound
streams out as ``Session*`` actions and app-bound streams as streams of one h2 client
connection to the real app. Responses (1xx, head, body, trailers, RST_STREAM) go back on
the client's stream. Every input method returns the list of actions (see
:mod:`podtap.core.routing.actions`) the shell must perform, in order. See the section
"HTTP/2" of ``docs/routing.md``.
"""

from __future__ import annotations

from podtap.core.routing.actions import Action, SendToClient
from podtap.core.routing.h2_app_side import H2AppSide
from podtap.core.routing.h2_client_side import H2ClientSide
from podtap.core.routing.h2_fields import H2_PREFACE, is_h2_preface
from podtap.core.routing.h2_peer import PeerError, goaway_frame
from podtap.core.routing.h2_session_side import H2SessionSide
from podtap.core.routing.h2_stream import CANCEL

__all__ = ["H2_PREFACE", "Http2Router", "is_h2_preface"]


class Http2Router(H2SessionSide, H2AppSide, H2ClientSide):
    """Routes the HTTP/2 streams of one client connection; performs no I/O.

    ``Http2Router(*, route, client_addr, max_buffer=1 << 20)``: ``route(head)`` returns a
    session key (hashable) or ``None`` for the real app; it is called once per stream and
    must not raise. ``client_addr`` goes into ``x-forwarded-for`` of requests sent to the
    app. ``max_buffer`` is the connection flow-control window advertised to the client and
    the app (what either can make the router hold) and the threshold of the
    ``wants_*_pause`` predicates.

    Inputs (each returns the actions to perform, in order):

    - client: :meth:`client_data`, :meth:`client_eof`, :meth:`client_abort`;
    - app: :meth:`app_data`, :meth:`app_eof` (also: could not connect, reset);
    - sessions: :meth:`session_response_head`, :meth:`session_response_body`,
      :meth:`session_response_end`, :meth:`session_reset`, :meth:`session_gone`;
    - control: :meth:`drain`.

    Queries, to re-check after every call: :meth:`wants_client_pause`,
    :meth:`wants_app_pause`, :meth:`wants_session_pause`, :meth:`session_routes`,
    :attr:`buffered`, :attr:`closed`.
    """

    def client_data(self, data: bytes) -> list[Action]:
        """Bytes read from the client (the first ones start with the preface)."""
        out: list[Action] = []
        if self._closed or not data:
            return out
        try:
            events = self._client.receive(bytes(data))
        except PeerError:
            self._shutdown(out)
            return out
        for event in events:
            if self._closed:
                break
            self._on_client_event(event, out)
        self._sync(out)
        return out

    def client_eof(self) -> list[Action]:
        """The client half-closed: streams whose request is complete still get their
        responses, the others are abandoned; then both connections close."""
        out: list[Action] = []
        if self._closed:
            return out
        self._ending = True
        for st in list(self._streams.values()):
            if not st.req_done and not st.discard:
                self._drop(st, CANCEL, out)
        self._sync(out)
        return out

    def client_abort(self) -> list[Action]:
        """The client connection broke (reset, write error): drop everything now."""
        out: list[Action] = []
        if not self._closed:
            self._client.take()  # nobody will read it
            self._shutdown(out)
        return out

    def drain(self) -> list[Action]:
        """Graceful shutdown (the agent unhooks the port): GOAWAY to the client, streams
        it already opened are finished, later ones refused; then both connections close."""
        out: list[Action] = []
        if self._closed or self._last_sid is not None:
            return out
        self._ending = True
        self._last_sid = self._client.highest_inbound
        self._emit(out)
        out.append(SendToClient(goaway_frame(self._last_sid)))
        self._sync(out)
        return out
