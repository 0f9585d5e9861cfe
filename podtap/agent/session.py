"""One developer session as the agent serves it: its streams, and its requests to the pod.

The server hands a session the frames that are its own business (stream data, outgoing
connects, name lookups, env, files, and the answers to requests it was given); what a
session subscribes to belongs to the incoming side, which the server talks to directly.
So a session knows nothing above it: filtered connections register their streams here
as :class:`HttpStreamEndpoint` and get their answers through it."""

from __future__ import annotations

import contextlib
import logging
from collections.abc import Awaitable, Callable
from typing import Protocol

from podtap.agent.outgoing import UdpFlow, open_outgoing
from podtap.agent.podview import ContainerFiles, PodResolver, container_mounts
from podtap.core.ids import Port, SessionId, StreamId, StreamIdAllocator, format_session_id
from podtap.core.protocol import (
    BodyChunk,
    BodyEnd,
    Connect,
    ConnectResult,
    Data,
    EnvRequest,
    EnvResponse,
    ErrorCode,
    ErrorFrame,
    FileClose,
    FileOpen,
    FileRead,
    FileReadDir,
    FileStat,
    GetAddrInfoRequest,
    GetAddrInfoResponse,
    HttpResponseHead,
    IncomingMode,
    NewConnection,
    Payload,
    StreamClose,
    UdpDatagram,
    WindowUpdate,
    refusal,
)
from podtap.net.procfs import read_environ
from podtap.net.streams import FlowChannel, StreamEndpoint
from podtap.net.tasks import TaskSet

log = logging.getLogger(__name__)
HttpReply = HttpResponseHead | BodyChunk | BodyEnd


class HttpStreamEndpoint(StreamEndpoint, Protocol):
    """A stream that carries stolen requests: besides bytes, it takes the session's
    answers to them."""

    async def on_reply(self, message: HttpReply) -> None: ...


class SessionHandler(FlowChannel):
    def __init__(
        self,
        session: SessionId,
        *,
        send: Callable[[Payload], Awaitable[None]],
        target_pid: int,
    ) -> None:
        super().__init__(label=format_session_id(session), send=send)
        self.session = session
        self._pid = target_pid
        self.stream_ids = StreamIdAllocator(client_side=False)
        self._http: dict[StreamId, HttpStreamEndpoint] = {}
        self._tasks = TaskSet()
        self._files: ContainerFiles | None = None
        self._resolver = PodResolver(f"/proc/{target_pid}/root")
        self._connecting: set[StreamId] = set()

    # -- streams the incoming side opens ---------------------------------------------
    async def offer(
        self,
        stream: StreamId,
        *,
        peer: tuple[str, int],
        local: tuple[str, int],
        mode: IncomingMode,
    ) -> None:
        """Tell the session that ``stream`` (opened already) carries a connection of the
        pod's from ``peer`` to ``local``, stolen or mirrored."""
        await self.send(
            NewConnection(
                stream=stream,
                port=Port(local[1]),
                remote_addr=peer[0],
                remote_port=Port(peer[1]),
                local_addr=local[0],
                local_port=Port(local[1]),
                mode=mode,
            )
        )

    def open_http_stream(self, stream: StreamId, endpoint: HttpStreamEndpoint) -> None:
        """Open a stream whose endpoint also takes answers to the requests sent on it."""
        self.open_stream(stream, endpoint)
        self._http[stream] = endpoint

    def forget_stream(self, stream: StreamId) -> None:
        self._http.pop(stream, None)
        super().forget_stream(stream)

    # -- receiving -------------------------------------------------------------------
    async def handle(self, message: Payload) -> None:
        """Serve one frame of this session (the server checked its fields already). A
        frame that breaks the protocol raises ProtocolError (the server then ends this
        session, and only this one)."""
        if isinstance(message, Data | WindowUpdate | StreamClose):
            await self.on_stream_message(message)
        elif isinstance(message, HttpResponseHead | BodyChunk | BodyEnd):
            await self._reply(message)
        elif isinstance(message, UdpDatagram):
            endpoint = self.streams.get(message.stream)
            if isinstance(endpoint, UdpFlow) and self.receiver.on_data(
                message.stream, len(message.data)
            ):
                endpoint.send_datagram(message)
        elif isinstance(message, Connect):
            await self._start_connect(message)
        elif isinstance(message, GetAddrInfoRequest):
            self._tasks.spawn(self._lookup(message), name=f"{self.label} dns")
        elif isinstance(message, EnvRequest):
            try:
                await self.send(
                    EnvResponse(
                        request=message.request,
                        env=read_environ(self._pid),
                        mounts=tuple(container_mounts(self._pid)),
                    )
                )
            except OSError as exc:
                await self.send(EnvResponse(request=message.request, env={}, error=str(exc)))
        elif isinstance(message, FileOpen | FileRead | FileStat | FileReadDir | FileClose):
            await self._file(message)
        else:
            await self.send(
                ErrorFrame(
                    code=ErrorCode.UNEXPECTED_MESSAGE,
                    message=f"the agent does not take {type(message).__name__}",
                    in_reply_to=type(message).TAG,
                )
            )

    async def _reply(self, message: HttpReply) -> None:
        """An answer to a stolen request, for the stream it came on (ignored once that
        stream is gone: the answer raced its end)."""
        endpoint = self._http.get(message.stream)
        if endpoint is None:
            return
        if isinstance(message, BodyChunk):  # body bytes count against the stream's window
            self.receiver.on_data(message.stream, len(message.data))
        await endpoint.on_reply(message)

    async def _lookup(self, req: GetAddrInfoRequest) -> None:
        try:
            answer = await self._resolver.getaddrinfo(req)
        except Exception as exc:  # every lookup is answered, whatever the name did
            log.warning("session %s: lookup of %r failed: %r", self.label, req.host, exc)
            answer = GetAddrInfoResponse(
                request=req.request, addresses=(), error=f"{req.host}: {exc}"
            )
        await self.send(answer)

    async def _file(self, req: FileOpen | FileRead | FileStat | FileReadDir | FileClose) -> None:
        if self._files is None:
            self._files = ContainerFiles(f"/proc/{self._pid}/root")
        reply: Payload | None
        try:
            reply = self._files.handle(req)
        except (ValueError, OverflowError) as exc:  # values the kernel cannot take
            reply = refusal(req, str(exc))
        if reply is not None:
            await self.send(reply)

    async def _start_connect(self, req: Connect) -> None:
        """Connects run as tasks (they wait for the network); a stream id in use is refused
        here, before a second connection could take it over."""
        if req.stream in self.streams or req.stream in self._connecting:
            error = f"stream {req.stream} is already open"
            await self.send(ConnectResult(stream=req.stream, ok=False, error=error))
            return
        self._connecting.add(req.stream)
        self._tasks.spawn(self._connect(req), name=f"{self.label} connect")

    async def _connect(self, req: Connect) -> None:
        try:
            await open_outgoing(self, req, resolver=self._resolver)
        finally:
            self._connecting.discard(req.stream)

    async def close(self) -> None:
        """End every stream of this session (the server told the incoming side first, so
        no new connection comes to it)."""
        if self.closed:
            return
        self.closed = True
        for stream, endpoint in list(self.streams.items()):
            with contextlib.suppress(Exception):  # one failing must not keep the others open
                await endpoint.on_close("session ended")
            self.forget_stream(stream)
        await self._tasks.close()
        if self._files is not None:
            self._files.close()
