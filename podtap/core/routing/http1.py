"""Sans-IO HTTP/1.1 router for one intercepted client connection (filtered steal).

Each request is parsed with h11, given to ``route`` and sent to a session or to the real
app; responses go back to the client in request order. Every input method returns the
list of actions (see :mod:`podtap.core.routing.actions`) the shell must perform, in order.
See ``docs/routing.md`` for the behaviour on every edge case.
"""

from __future__ import annotations

from podtap.core.routing.actions import (
    Action,
    SendToApp,
    SessionAbort,
    SessionRaw,
    SessionRawEnd,
    ShutdownApp,
)
from podtap.core.routing.app_side import AppSide
from podtap.core.routing.client_side import ClientSide
from podtap.core.routing.session_side import SessionSide
from podtap.core.routing.state import Mode

__all__ = ["Http1Router", "Mode"]


class Http1Router(SessionSide, AppSide, ClientSide):
    """Routes the HTTP/1.1 requests of one client connection; performs no I/O.

    ``Http1Router(*, route, client_addr, max_buffer=1 << 20, max_pipeline=16,
    max_head=64 * 1024)``: ``route(head)`` returns a session key (hashable) or ``None``
    for the real app; it is called once per request and must not raise. ``client_addr``
    goes into ``X-Forwarded-For`` of requests sent to the app. ``max_buffer`` bounds what
    the router holds for one peer before ``wants_*_pause`` say "stop reading";
    ``max_pipeline`` bounds requests in flight; ``max_head`` bounds a head.

    Inputs (each returns the actions to perform, in order):

    - client: :meth:`client_data`, :meth:`client_eof`, :meth:`client_abort`;
    - app: :meth:`app_data`, :meth:`app_eof` (also: could not connect, reset);
    - sessions: :meth:`session_response_head`, :meth:`session_response_body`,
      :meth:`session_response_end`, :meth:`session_reset`, :meth:`session_gone`,
      :meth:`session_raw`, :meth:`session_raw_end`;
    - control: :meth:`drain`, :meth:`force_passthrough`.

    Queries, to re-check after every call: :meth:`wants_client_pause`,
    :meth:`wants_app_pause`, :meth:`wants_session_pause`, :attr:`mode`, :attr:`closed`.
    """

    def client_data(self, data: bytes) -> list[Action]:
        """Bytes read from the client."""
        mode = self._mode
        if not data or mode is Mode.CLOSED:
            return []
        if mode is Mode.RAW:
            return [SendToApp(bytes(data))]
        if mode is Mode.SESSION_RAW:
            return [SessionRaw(self._raw_route, bytes(data))]
        self._backlog += data
        out: list[Action] = []
        self._pump(out)
        return out

    def client_eof(self) -> list[Action]:
        """The client half-closed (read EOF). Answers already owed are still delivered."""
        mode = self._mode
        out: list[Action] = []
        if mode is Mode.RAW:
            self._raw_client_eof = True
            out.append(ShutdownApp())
            self._maybe_close_raw(out)
        elif mode is Mode.SESSION_RAW:
            self._raw_client_eof = True
            out.append(SessionRawEnd(self._raw_route))
            self._maybe_close_raw(out)
        elif mode is not Mode.CLOSED:
            self._client_eof = True
            self._flush(out)
        return out

    def client_abort(self) -> list[Action]:
        """The client connection broke (reset, write error): drop everything now."""
        out: list[Action] = []
        if self._mode is Mode.SESSION_RAW:
            out.append(SessionAbort(self._raw_route, self._raw_request))
        self._shutdown(out)
        return out

    def drain(self) -> list[Action]:
        """Finish requests already read, then close (the last response says
        ``Connection: close``). Raw connections are left to the shell."""
        out: list[Action] = []
        if self._mode is Mode.HTTP:
            self._draining = True
            self._no_more_requests = True
            if self._current is None:
                self._drop_reader()
                self._backlog.clear()
            self._flush(out)
        return out

    def force_passthrough(self) -> list[Action]:
        """Give up parsing (e.g. the client stays silent: a server-speaks-first protocol).
        Only between requests; answers still owed are delivered first."""
        out: list[Action] = []
        if self._mode is Mode.HTTP and self._current is None and self._blocker is None:
            self._not_http(out)
            self._flush(out)
        return out
