"""Reading the client connection: requests routed stream by stream, their bodies and
ends sent on to a session or the app, the client's resets and window updates."""

from __future__ import annotations

from h2.events import (
    ConnectionTerminated,
    DataReceived,
    Event,
    RemoteSettingsChanged,
    RequestReceived,
    StreamEnded,
    StreamReset,
    TrailersReceived,
    WindowUpdated,
)

from podtap.core.ids import RequestId
from podtap.core.routing.actions import (
    Action,
    SessionRequestBody,
    SessionRequestEnd,
    SessionRequestHead,
)
from podtap.core.routing.h2_fields import Field, app_request_fields, plain, request_head
from podtap.core.routing.h2_state import H2RouterState
from podtap.core.routing.h2_stream import REFUSED_STREAM, H2Stream


class H2ClientSide(H2RouterState):
    """Events from the client connection (driven by ``client_data``)."""

    def _on_client_event(self, event: Event, out: list[Action]) -> None:
        if isinstance(event, DataReceived):
            self._on_request_data(event, out)
        elif isinstance(event, RequestReceived):
            ended = event.stream_ended is not None
            self._on_request(event.stream_id, plain(event.headers), ended, out)
        elif isinstance(event, TrailersReceived):
            st = self._streams.get(event.stream_id)
            if st is not None:
                st.req_trailers = plain(event.headers)
        elif isinstance(event, StreamEnded):
            self._on_request_end(event.stream_id, out)
        elif isinstance(event, StreamReset):
            st = self._streams.get(event.stream_id)
            if st is not None:
                self._drop(st, int(event.error_code), out, reset_client=False)
        elif isinstance(event, WindowUpdated):
            for st in self._targets(self._streams, event.stream_id):
                self._flush_to_client(st, out)
        elif isinstance(event, RemoteSettingsChanged):
            for st in list(self._streams.values()):
                self._flush_to_client(st, out)
        elif isinstance(event, ConnectionTerminated):
            if event.error_code:
                self._shutdown(out)
            else:
                self._ending = True  # the client is leaving: finish its streams

    def _on_request(self, sid: int, fields: list[Field], ended: bool, out: list[Action]) -> None:
        if self._last_sid is not None and sid > self._last_sid:
            self._client.reset(sid, REFUSED_STREAM)  # raced with our GOAWAY: retry elsewhere
            return
        head = request_head(fields)
        route = self._route(head)
        rid = RequestId(self._next_id)
        self._next_id += 1
        st = H2Stream(sid, rid, route, bodyless=head.method == "HEAD")
        self._streams[sid] = st
        if route is None:
            if ended:
                st.to_app.finish()  # so HEADERS carry END_STREAM to the app too
            st.app_fields = app_request_fields(fields, self._xff)
            self._waiting.append(st)
            self._open_app_streams(out)
        else:
            self._by_request[rid] = st
            out.append(SessionRequestHead(route, rid, head))

    def _on_request_data(self, event: DataReceived, out: list[Action]) -> None:
        sid = event.stream_id
        st = self._streams.get(sid)
        size = event.flow_controlled_length
        if st is None or st.discard:
            self._client.ack(sid, size)
            return
        if st.route is not None:
            if event.data:
                out.append(SessionRequestBody(st.route, st.request_id, event.data))
            self._client.ack(sid, size)
            return
        self._client.ack(sid, size - len(event.data))  # padding
        st.to_app.push(event.data)
        self._flush_to_app(st, out)

    def _on_request_end(self, sid: int, out: list[Action]) -> None:
        st = self._streams.get(sid)
        if st is None:
            return
        st.req_done = True
        if st.discard:
            pass
        elif st.route is not None:
            out.append(SessionRequestEnd(st.route, st.request_id, tuple(st.req_trailers)))
        else:
            st.to_app.finish(st.req_trailers)
            self._flush_to_app(st, out)
        self._settle(st, out)
