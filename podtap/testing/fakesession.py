"""One session as the fake agent serves it, and the incoming traffic a test injects.

A session's frames are answered from the fake pod (its environment, the cluster's names)
with the real agent's replies and refusals; stream data goes through the real flow control
(`net.streams.FlowChannel`). Incoming traffic has no socket behind it: a test hands the
agent a connection (`FakeConnection`) or an HTTP request (`FakeExchange`), and sees what
the session answered."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field

from podtap.core.ids import SessionId, StreamId, StreamIdAllocator, format_session_id
from podtap.core.protocol import (
    BodyChunk,
    BodyEnd,
    Close,
    Connect,
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
    InvalidHttpFilter,
    IpFamily,
    Payload,
    StreamClose,
    Subscribe,
    SubscribeResult,
    Unsubscribe,
    WindowUpdate,
    refusal,
    refuse_if_invalid,
)
from podtap.core.subscriptions import PortTable
from podtap.net.streams import FlowChannel

Names = Callable[[str], list[str]]
"""A host name as the pod would look it up -> its IPv4 addresses (none: not known)."""


@dataclass(frozen=True, slots=True, kw_only=True)
class PodSide:
    """What a fake agent knows of its pod: what its sessions are answered from."""

    env: Callable[[], dict[str, str]]
    names: Names
    table: PortTable = field(default_factory=PortTable)


class FakeConnection:
    """An injected connection as one session sees it: `sent` holds what the session wrote
    back, `eof` is set when it half-closed, `closed` when it ended the stream."""

    def __init__(self, session: FakeSession, stream: StreamId) -> None:
        self.session = session
        self.stream = stream
        self.sent = bytearray()
        self.eof = asyncio.Event()
        self.closed = asyncio.Event()
        self._more = asyncio.Event()

    async def on_data(self, data: bytes) -> None:
        if not data:
            self.eof.set()
        self.sent += data
        self._more.set()
        if data:  # the "client" reads at once: credit goes back as the real agent's would
            await self.session.consumed(self.stream, len(data))

    async def on_close(self, error: str | None) -> None:
        self.closed.set()
        self._more.set()

    async def write(self, data: bytes) -> None:
        """Bytes from the connection's client to the session (b"": half-close)."""
        await self.session.wait_writable(self.stream)
        await self.session.send_stream(Data(stream=self.stream, data=data))

    async def read_until(self, marker: bytes, *, timeout: float = 5) -> bytes:
        """What the session sent, once it holds `marker` (or the stream ended)."""
        async with asyncio.timeout(timeout):
            while marker not in self.sent and not (self.eof.is_set() or self.closed.is_set()):
                self._more.clear()
                await self._more.wait()
        return bytes(self.sent)


class FakeExchange(FakeConnection):
    """An injected HTTP request: the session's answer (head, body, end)."""

    def __init__(self, session: FakeSession, stream: StreamId) -> None:
        super().__init__(session, stream)
        self.head: HttpResponseHead | None = None
        self.body = bytearray()
        self.done = asyncio.Event()

    async def on_response(self, message: HttpResponseHead | BodyChunk | BodyEnd) -> None:
        if isinstance(message, HttpResponseHead):
            self.head = message
        elif isinstance(message, BodyChunk):
            self.body += message.data
            if self.session.receiver.on_data(message.stream, len(message.data)):
                await self.session.consumed(message.stream, len(message.data))
        else:
            self.done.set()

    async def on_close(self, error: str | None) -> None:
        await super().on_close(error)
        self.done.set()


class FakeSession(FlowChannel):
    """Serves one session's frames as podtap.agent.session.SessionHandler does, from the
    fake pod: subscriptions in the pod's port table, env and names from the pod; outgoing
    connections and files are refused (nothing here can reach the pod)."""

    def __init__(
        self, session: SessionId, *, send: Callable[[Payload], Awaitable[None]], pod: PodSide
    ) -> None:
        super().__init__(label=format_session_id(session), send=send)
        self.session = session
        self.pod = pod
        self.stream_ids = StreamIdAllocator(client_side=False)

    async def handle(self, message: Payload) -> None:
        refused = refuse_if_invalid(message)
        if refused is not None:
            await self.send(refused)
        elif isinstance(message, Data | WindowUpdate | StreamClose):
            await self.on_stream_message(message)
        elif isinstance(message, HttpResponseHead | BodyChunk | BodyEnd):
            endpoint = self.streams.get(message.stream)
            if isinstance(endpoint, FakeExchange):
                await endpoint.on_response(message)
        elif isinstance(message, Subscribe):
            await self.send(self._subscribe(message))
        elif isinstance(message, Unsubscribe):
            self.pod.table.unsubscribe(self.session, message.port)
        elif isinstance(message, EnvRequest):
            await self.send(self._env(message))
        elif isinstance(message, GetAddrInfoRequest):
            await self.send(self._lookup(message))
        elif isinstance(message, Connect | FileOpen | FileRead | FileStat | FileReadDir):
            await self.send(_refused(message))
        elif isinstance(message, FileClose):
            pass  # nothing was opened; the real agent answers no FileClose either
        elif isinstance(message, Close):
            await self.close()
        else:
            await self.send(
                ErrorFrame(
                    code=ErrorCode.UNEXPECTED_MESSAGE,
                    message=f"the agent does not take {type(message).__name__}",
                    in_reply_to=type(message).TAG,
                )
            )

    def _subscribe(self, req: Subscribe) -> SubscribeResult:
        if req.http_filter is not None:
            try:
                req.http_filter.validate()
            except InvalidHttpFilter as exc:
                return SubscribeResult(request=req.request, ok=False, error=str(exc))
        self.pod.table.subscribe(self.session, req.port, req.mode, req.http_filter)
        return SubscribeResult(request=req.request, ok=True)

    def _env(self, req: EnvRequest) -> EnvResponse:
        try:
            return EnvResponse(request=req.request, env=dict(self.pod.env()))
        except OSError as exc:  # the pod is gone, as its /proc/PID/environ would be
            return EnvResponse(request=req.request, env={}, error=str(exc))

    def _lookup(self, req: GetAddrInfoRequest) -> GetAddrInfoResponse:
        if req.family == IpFamily.IPV6:
            return GetAddrInfoResponse(
                request=req.request, addresses=(), error=f"{req.host}: no IPv6 address"
            )
        found = self.pod.names(req.host)
        if not found:
            return GetAddrInfoResponse(
                request=req.request, addresses=(), error=f"{req.host}: name not known"
            )
        return GetAddrInfoResponse(
            request=req.request, addresses=tuple((IpFamily.IPV4, ip) for ip in found)
        )

    async def close(self) -> None:
        if self.closed:
            return
        self.pod.table.remove_session(self.session)
        self.closed = True
        for stream, endpoint in list(self.streams.items()):
            await endpoint.on_close("session ended")
            self.forget_stream(stream)


def _refused(message: Connect | FileOpen | FileRead | FileStat | FileReadDir) -> Payload:
    what = "outgoing connections" if isinstance(message, Connect) else "files"
    answer = refusal(message, f"the fake agent serves no {what}")
    assert answer is not None
    return answer
