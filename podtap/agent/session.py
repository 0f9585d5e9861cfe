"""One developer session as the agent serves it: its streams, subscriptions and requests."""

from __future__ import annotations

import asyncio
import contextlib
import ipaddress
import logging
import socket
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING

from podtap.agent.podview import ContainerFiles, PodResolver, container_mounts
from podtap.core.ids import (
    Port,
    RequestId,
    SessionId,
    StreamId,
    StreamIdAllocator,
    format_session_id,
)
from podtap.core.protocol import (
    Close,
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
    HttpFilter,
    InvalidHttpFilter,
    Payload,
    StreamClose,
    Subscribe,
    SubscribeResult,
    TransportProtocol,
    UdpDatagram,
    Unsubscribe,
    WindowUpdate,
    refusal,
    refuse_if_invalid,
)
from podtap.net.procfs import read_environ
from podtap.net.streams import FlowChannel
from podtap.net.tasks import TaskSet

if TYPE_CHECKING:
    from podtap.agent.incoming import IncomingTraffic

log = logging.getLogger(__name__)
AGENT_MARK = 0x70D7A9


def marked_socket(family: int, kind: int) -> socket.socket:
    """A socket whose traffic our own redirect rules leave alone."""
    sock = socket.socket(family, kind)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_MARK, AGENT_MARK)
    return sock


class SessionHandler(FlowChannel):
    def __init__(
        self,
        session: SessionId,
        *,
        send: Callable[[Payload], Awaitable[None]],
        incoming: IncomingTraffic,
        target_pid: int,
    ) -> None:
        super().__init__(label=format_session_id(session), send=send)
        self.session = session
        self._incoming = incoming
        self._pid = target_pid
        self.stream_ids = StreamIdAllocator(client_side=False)
        self._tasks = TaskSet()
        self._files: ContainerFiles | None = None
        self._resolver = PodResolver(f"/proc/{target_pid}/root")
        self._connecting: set[StreamId] = set()

    # -- receiving -------------------------------------------------------------------
    async def handle(self, message: Payload) -> None:
        """Serve one frame of this session. A request whose fields cannot be served is
        answered with its refusal; a frame that breaks the protocol raises ProtocolError
        (the server then ends this session, and only this one)."""
        refused = refuse_if_invalid(message)
        if refused is not None:
            await self.send(refused)
        elif isinstance(message, Data | WindowUpdate | StreamClose):
            await self.on_stream_message(message)
        elif isinstance(message, UdpDatagram):
            endpoint = self.streams.get(message.stream)
            if isinstance(endpoint, UdpFlow) and self.receiver.on_data(
                message.stream, len(message.data)
            ):
                endpoint.send_datagram(message)
        elif isinstance(message, Subscribe):
            await self.send(await self._subscribe(message))
        elif isinstance(message, Unsubscribe):
            await self._incoming.unsubscribe(self, message.port)
        elif isinstance(message, Connect):
            await self._start_connect(message)
        elif isinstance(message, GetAddrInfoRequest):
            self._tasks.spawn(self._lookup(message), name=f"{self.label} dns")
        elif isinstance(message, EnvRequest):
            try:
                await self.send(
                    EnvResponse(
                        message.request,
                        read_environ(self._pid),
                        mounts=tuple(container_mounts(self._pid)),
                    )
                )
            except OSError as exc:
                await self.send(EnvResponse(message.request, {}, str(exc)))
        elif isinstance(message, FileOpen | FileRead | FileStat | FileReadDir | FileClose):
            await self._file(message)
        elif isinstance(message, Close):
            await self.close()
        elif self._incoming.handles(message):
            await self._incoming.from_session(self, message)
        else:
            await self.send(
                ErrorFrame(
                    ErrorCode.UNEXPECTED_MESSAGE,
                    f"the agent does not take {type(message).__name__}",
                    type(message).TAG,
                )
            )

    async def _subscribe(self, req: Subscribe) -> SubscribeResult:
        flt: HttpFilter | None = req.http_filter
        if flt is not None:
            try:
                flt.validate()
            except InvalidHttpFilter as exc:
                return SubscribeResult(req.request, False, str(exc))
        try:
            await self._incoming.subscribe(self, req.port, req.mode, flt)
        except OSError as exc:
            return SubscribeResult(req.request, False, f"cannot redirect port {req.port}: {exc}")
        return SubscribeResult(req.request, True)

    async def _lookup(self, req: GetAddrInfoRequest) -> None:
        try:
            answer = await self._resolver.getaddrinfo(req)
        except Exception as exc:  # every lookup is answered, whatever the name did
            log.warning("session %s: lookup of %r failed: %r", self.label, req.host, exc)
            answer = GetAddrInfoResponse(req.request, (), f"{req.host}: {exc}")
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
            await self.send(ConnectResult(req.stream, False, error=error))
            return
        self._connecting.add(req.stream)
        self._tasks.spawn(self._connect(req), name=f"{self.label} connect")

    async def _connect(self, req: Connect) -> None:
        try:
            await self._open_connection(req)
        finally:
            self._connecting.discard(req.stream)

    async def _open_connection(self, req: Connect) -> None:
        from podtap.net.streams import TcpStream

        loop = asyncio.get_running_loop()
        kind = socket.SOCK_STREAM if req.protocol == TransportProtocol.TCP else socket.SOCK_DGRAM
        try:
            host = req.host
            if not _is_ip(host):  # resolve as the pod would, not as this machine does
                found = await self._resolver.getaddrinfo(GetAddrInfoRequest(RequestId(0), host))
                if not found.addresses:
                    raise OSError(found.error or f"{host}: name not known")
                host = found.addresses[0][1]
            family = socket.AF_INET6 if ":" in host else socket.AF_INET
            addr = (host, req.port)
            sock = marked_socket(family, kind)
            sock.setblocking(False)
            try:
                await asyncio.wait_for(loop.sock_connect(sock, addr), 10)
            except BaseException:
                sock.close()
                raise
        except Exception as exc:  # every Connect is answered, whatever went wrong
            await self.send(ConnectResult(req.stream, False, error=str(exc) or type(exc).__name__))
            return
        local = sock.getsockname()
        if req.protocol == TransportProtocol.TCP:
            reader, writer = await asyncio.open_connection(sock=sock)
            stream = TcpStream(self, req.stream, reader, writer)
            self.open_stream(req.stream, stream)
            await self.send(ConnectResult(req.stream, True, local[0], Port(local[1])))
            stream.start()
        else:
            _transport, flow = await loop.create_datagram_endpoint(
                lambda: UdpFlow(self, req.stream), sock=sock
            )
            self.open_stream(req.stream, flow)
            await self.send(ConnectResult(req.stream, True, local[0], Port(local[1])))

    async def close(self) -> None:
        if self.closed:
            return
        await self._incoming.remove_session(self)
        self.closed = True
        for stream, endpoint in list(self.streams.items()):
            with contextlib.suppress(Exception):
                await endpoint.on_close("session ended")
            self.forget_stream(stream)
        await self._tasks.close()
        if self._files is not None:
            self._files.close()


def _is_ip(host: str) -> bool:
    try:
        ipaddress.ip_address(host)
    except ValueError:
        return False
    return True


class UdpFlow(asyncio.DatagramProtocol):
    """A connected UDP socket in the pod, carried on one stream."""

    def __init__(self, session: SessionHandler, stream: StreamId) -> None:
        self.session = session
        self.stream = stream
        self.transport: asyncio.DatagramTransport | None = None
        self._tasks = TaskSet()

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]

    def datagram_received(self, data: bytes, addr: tuple[str | object, int]) -> None:
        host, port = str(addr[0]), int(addr[1])
        if self.session.writable(self.stream):  # UDP: drop rather than queue
            self._tasks.spawn(
                self.session.send_stream(UdpDatagram(self.stream, data, host, Port(port))),
                name=f"udp {self.stream}",
            )

    def send_datagram(self, message: UdpDatagram) -> None:
        if self.transport is not None:
            self.transport.sendto(message.data)
            self._tasks.spawn(
                self.session.consumed(self.stream, len(message.data)),
                name=f"udp {self.stream} credit",
            )

    async def on_data(self, data: bytes) -> None:
        return None

    async def on_close(self, error: str | None) -> None:
        if self.transport is not None:
            self.transport.close()
        await self._tasks.close()
