"""The app side of the router: one h2 client connection to the real app carrying the
app-bound streams, their responses relayed to the client, GOAWAY and failures."""

from __future__ import annotations

from h2.events import (
    ConnectionTerminated,
    DataReceived,
    Event,
    InformationalResponseReceived,
    RemoteSettingsChanged,
    ResponseReceived,
    StreamEnded,
    StreamReset,
    TrailersReceived,
    WindowUpdated,
)

from podtap.core.routing.actions import Action, CloseApp, OpenApp
from podtap.core.routing.h2_fields import plain
from podtap.core.routing.h2_peer import H2Peer, PeerError
from podtap.core.routing.h2_state import H2RouterState
from podtap.core.routing.h2_stream import NO_ERROR, REFUSED_STREAM, H2Stream
from podtap.core.routing.state import APP_FAILED


class H2AppSide(H2RouterState):
    """Inputs from the app connection (``app_data``, ``app_eof``) and its streams."""

    def app_data(self, data: bytes) -> list[Action]:
        """Bytes read from the app connection."""
        out: list[Action] = []
        app = self._app
        if self._closed or app is None or not data:
            return out
        try:
            events = app.receive(bytes(data))
        except PeerError:
            self._app_failed(out)
            self._sync(out)
            return out
        for event in events:
            if self._app is not app:
                break  # the connection failed while handling this batch
            self._on_app_event(app, event, out)
        self._sync(out)
        return out

    def app_eof(self) -> list[Action]:
        """The app connection ended (EOF, reset, or it could not be opened)."""
        out: list[Action] = []
        if not self._closed and self._app is not None:
            self._app_failed(out)
            self._sync(out)
        return out

    def _on_app_event(self, app: H2Peer, event: Event, out: list[Action]) -> None:
        if isinstance(event, (DataReceived, ResponseReceived, TrailersReceived, StreamEnded)):
            st = self._by_app.get(event.stream_id)
            if st is None:
                if isinstance(event, DataReceived):
                    app.ack(event.stream_id, event.flow_controlled_length)
                return
            if isinstance(event, DataReceived):
                app.ack(event.stream_id, event.flow_controlled_length - len(event.data))
                st.to_client.push(event.data)
                self._flush_to_client(st, out)
            elif isinstance(event, ResponseReceived):
                ended = event.stream_ended is not None
                st.head_sent = True
                self._client.send_headers(st.sid, plain(event.headers), end=ended)
                if ended:
                    st.source_done = True
                    st.to_client.finish()
                    st.to_client.ended = True
                    self._settle(st, out)
            elif isinstance(event, TrailersReceived):
                st.resp_trailers = plain(event.headers)
            elif not st.source_done:
                st.source_done = True
                st.to_client.finish(st.resp_trailers)
                self._flush_to_client(st, out)
        elif isinstance(event, InformationalResponseReceived):
            st = self._by_app.get(event.stream_id)
            if st is not None and not st.head_sent:
                self._client.send_headers(st.sid, plain(event.headers))
        elif isinstance(event, StreamReset):
            st = self._by_app.get(event.stream_id)
            if st is not None:
                self._on_app_reset(st, int(event.error_code), out)
        elif isinstance(event, WindowUpdated):
            for st in self._targets(self._by_app, event.stream_id):
                self._flush_to_app(st, out)
        elif isinstance(event, RemoteSettingsChanged):
            for st in list(self._by_app.values()):
                self._flush_to_app(st, out)
            self._open_app_streams(out)
        elif isinstance(event, ConnectionTerminated):
            self._on_app_goaway(app, event, out)

    def _on_app_reset(self, st: H2Stream, code: int, out: list[Action]) -> None:
        if st.source_done and code == NO_ERROR:
            # RFC 9113 §8.1: a complete response, and "stop sending the request".
            self._stop_request(st)
            self._unbind_app(st, out)
            self._settle(st, out)
        else:
            self._unbind_app(st, out)
            self._reset(st, code, out)

    def _on_app_goaway(self, app: H2Peer, event: ConnectionTerminated, out: list[Action]) -> None:
        if event.error_code:
            self._app_failed(out)
            return
        app.goaway = True  # no new streams on it; those in flight may finish
        last = event.last_stream_id if event.last_stream_id is not None else 2**31 - 1
        for st in [st for st in self._by_app.values() if st.app_sid > last]:
            self._unbind_app(st, out)
            self._reset(st, REFUSED_STREAM, out)  # never processed: the client may retry
        self._retire_app(out)

    def _app_conn(self, out: list[Action]) -> H2Peer | None:
        """The app connection to open streams on (opened now if needed), or ``None``
        while the current one is going away."""
        app = self._app
        if app is None:
            app = H2Peer(client_side=True, window=self._window, stream_window=self._stream_window)
            self._app = app
            out.append(OpenApp())
        return None if app.goaway else app

    def _open_app_streams(self, out: list[Action]) -> None:
        while self._waiting:
            app = self._app_conn(out)
            if app is None or not app.can_open():
                return
            st = self._waiting.popleft()
            fields = st.app_fields or []
            st.app_fields = None
            end = st.to_app.bare_end
            st.app_sid = app.open_stream(fields, end=end)
            st.to_app.ended = end
            st.app = app
            self._by_app[st.app_sid] = st
            self._flush_to_app(st, out)

    def _app_failed(self, out: list[Action]) -> None:
        """The app connection broke: streams it had not answered completely fail (502,
        or RST_STREAM once their head went out); the client connection stays up."""
        app = self._app
        if app is None:
            return
        self._emit(out)
        out.append(CloseApp())
        self._app = None
        streams = list(self._by_app.values())
        self._by_app.clear()
        for st in streams:
            if st.source_done:
                self._stop_request(st)
                self._settle(st, out)
            else:
                self._fail(st, APP_FAILED, out)
        if self._waiting and not app.heard:  # could not even connect: do not loop
            for st in list(self._waiting):
                self._fail(st, APP_FAILED, out)
        self._open_app_streams(out)

    def _retire_app(self, out: list[Action]) -> None:
        """Close an app connection that sent GOAWAY once its streams are done, and open a
        new one for the streams that waited."""
        app = self._app
        if app is None or not app.goaway or self._by_app:
            return
        app.close()
        self._emit(out)
        out.append(CloseApp())
        self._app = None
        self._open_app_streams(out)

    def _unbind_app(self, st: H2Stream, out: list[Action]) -> None:
        """``st`` no longer uses its app stream (closed, reset or failed)."""
        if st.app_sid and self._by_app.get(st.app_sid) is st:
            del self._by_app[st.app_sid]
            self._retire_app(out)
            self._open_app_streams(out)  # a stream slot on the app connection is free
