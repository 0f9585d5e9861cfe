"""Incoming traffic for the local app: ports it listens on are subscribed, and what the
agent steals is delivered to the app inside the jail.

Whole connections (unfiltered steal) are relayed byte for byte; HTTP requests (filtered
steal) are replayed to the app with h11, one local connection per request, and the app's
answer goes back as response frames.

Listeners are found in the jail's network namespace (`/proc/JAIL/net/tcp{,6}`, minus the
jail's own sockets): a port the app stops listening on is unsubscribed, so the pod answers
it again, and subscribed again when the app listens on it anew."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from pathlib import Path

import h11

from podtap.client.bridge import Deliver, encode
from podtap.client.host.channel import ClientChannel
from podtap.core.exec_spec import IncomingPlan
from podtap.core.ids import Port, RequestId, StreamId
from podtap.core.protocol import (
    BodyChunk,
    BodyEnd,
    HttpFilter,
    HttpRequestHead,
    HttpResponseHead,
    IncomingMode,
    NewConnection,
    Payload,
    StreamClose,
    Subscribe,
    SubscribeResult,
    Unsubscribe,
)
from podtap.net.procfs import tcp_listeners
from podtap.net.streams import TcpStream
from podtap.net.tasks import TaskSet

log = logging.getLogger(__name__)

SCAN_INTERVAL = 0.25  # seconds between looks at the jail's listeners


def _shown(local: int, remote: int) -> str:
    return f"port {remote}" + (f" (local {local})" if remote != local else "")


async def open_app(deliver: Path, port: int) -> tuple[asyncio.StreamReader, asyncio.StreamWriter]:
    """A connection to the app's `port` inside the jail (through the jail's socket)."""
    reader, writer = await asyncio.open_unix_connection(str(deliver))
    writer.write(encode(Deliver(port=port)))
    return reader, writer


def _how(plan: IncomingPlan, flt: HttpFilter | None) -> str:
    if flt is not None:
        return flt.describe()
    if plan.mode is IncomingMode.STEAL and plan.http_filter is not None:
        return "(whole port: not in http_filter.ports)"
    return "(whole port)"


class _Pending:
    """A new stolen connection: raw bytes (then it is connected to the app) or HTTP
    requests (then `_HttpStream` takes over) follow; bytes wait until the app answers."""

    def __init__(self, incoming: Incoming, conn: NewConnection) -> None:
        self.incoming, self.conn = incoming, conn
        self.buffer: list[bytes] = []
        self.closed: str | bool | None = False
        self.target: TcpStream | None = None
        self.connecting = False

    async def on_data(self, data: bytes) -> None:
        if self.target is not None:
            await self.target.on_data(data)
            return
        self.buffer.append(data)
        if not self.connecting:
            self.connecting = True
            self.incoming.spawn_connect(self)

    async def on_close(self, error: str | None) -> None:
        if self.target is not None:
            await self.target.on_close(error)
        else:
            self.closed = error if error is not None else True


class _HttpStream:
    """Requests of one stolen HTTP stream, each replayed to the app on its own connection."""

    def __init__(self, stream: StreamId, port: int) -> None:
        self.stream, self.port = stream, port
        self.bodies: dict[RequestId, asyncio.Queue[bytes | None]] = {}

    async def on_data(self, data: bytes) -> None:
        return None

    async def on_close(self, error: str | None) -> None:
        for queue in self.bodies.values():
            queue.put_nowait(None)


class Incoming:
    def __init__(
        self,
        channel: ClientChannel,
        *,
        deliver: Path,
        plan: IncomingPlan,
        tell: Callable[[str], None],
    ) -> None:
        if plan.mode is None:
            raise ValueError("incoming is off: nothing to subscribe")
        self.channel = channel
        self.deliver = deliver
        self.mode = plan.mode
        self.plan = plan
        self.tell = tell
        self._local_port: dict[int, int] = {}
        # local port -> the pod's port subscribed for it; None: seen but not subscribed
        self._subscribed: dict[int, int | None] = {}
        self._jail_pid: int | None = None
        self._scanner: asyncio.Task[None] | None = None
        self._lock = asyncio.Lock()
        self._tasks = TaskSet()
        channel.on_other = self.on_frame

    def spawn_connect(self, pending: _Pending) -> None:
        self._tasks.spawn(self._connect(pending.conn, pending), name="stolen connection")

    def watch(self, jail_pid: int) -> None:
        """Follow the listeners of the jail `jail_pid`'s network namespace from now on
        (a scan every `SCAN_INTERVAL` seconds)."""
        self._jail_pid = jail_pid
        if self._scanner is None:
            self._scanner = self._tasks.spawn(self._scan_forever(), name="listener scan")

    async def _scan_forever(self) -> None:
        while True:
            await asyncio.sleep(SCAN_INTERVAL)
            await self.rescan()

    async def rescan(self) -> None:
        """Subscribe the app's new listeners, unsubscribe the ports it stopped listening on.
        With `ignore_localhost`, a port bound only to loopback addresses is left alone."""
        if self._jail_pid is None:
            return
        async with self._lock:
            found = tcp_listeners(self._jail_pid, skip_own=True)
            if found is None:  # the jail has exited: the session ends with it
                return
            wanted: set[int] = set()
            for listener in found:
                if not (self.plan.ignore_localhost and listener.loopback):
                    wanted.add(listener.port)
            for port in sorted(set(self._subscribed) - wanted):
                await self._unsubscribe(port)
            for port in sorted(wanted - set(self._subscribed)):
                await self._subscribe(port)

    async def _subscribe(self, port: int) -> None:
        """Subscribe the pod's port `port` stands for as the plan says: mapped by
        `port_mapping`, chosen by `ports`/`ignore_ports`, filtered where `http_filter` applies
        (its `ports`), the whole port otherwise."""
        if port in self._subscribed:
            return
        remote = self.plan.remote_port(port)
        self._subscribed[port] = None
        if remote is None:
            return
        self._local_port[remote] = port
        flt = self.plan.filter_for(remote)
        reply = await self.channel.request(
            lambda rid: Subscribe(request=rid, port=remote, mode=self.mode, http_filter=flt)
        )
        assert isinstance(reply, SubscribeResult)
        if reply.ok:
            self._subscribed[port] = remote
            self.tell(f"{_shown(port, remote)}: {self.mode.value} {_how(self.plan, flt)}")
        else:
            self.tell(f"{_shown(port, remote)} not subscribed: {reply.error}")

    async def _unsubscribe(self, port: int) -> None:
        remote = self._subscribed.pop(port)
        if remote is None:  # left alone or refused: nothing to undo
            return
        self._local_port.pop(remote, None)
        await self.channel.send(Unsubscribe(port=Port(remote)))
        self.tell(f"{_shown(port, remote)}: unsubscribed, the app stopped listening")

    def _evicted(self, remote: int) -> None:
        """The operator says the pod's port `remote` is no longer ours (a Log told the user
        why): it stays seen but unsubscribed, so it is neither unsubscribed nor claimed
        again while the app listens on it."""
        for local, subscribed in self._subscribed.items():
            if subscribed == remote:
                self._subscribed[local] = None

    def local_port(self, remote: int) -> int:
        return self._local_port.get(remote, remote)

    async def on_frame(self, message: Payload) -> bool:
        """Frames the channel does not handle itself; True if taken."""
        if isinstance(message, NewConnection):
            self._new_connection(message)
            return True
        if isinstance(message, Unsubscribe):  # taken over by another session (override)
            self._evicted(message.port)
            return True
        if isinstance(message, HttpRequestHead):
            endpoint = self.channel.streams.get(message.stream)
            if isinstance(endpoint, _Pending):  # an HTTP stream, not a raw connection
                endpoint = _HttpStream(message.stream, endpoint.conn.port)
                self.channel.streams[message.stream] = endpoint
            if not isinstance(endpoint, _HttpStream):
                return True
            queue: asyncio.Queue[bytes | None] = asyncio.Queue()
            endpoint.bodies[message.request] = queue
            self._tasks.spawn(self._exchange(endpoint, message, queue), name="stolen request")
            return True
        if isinstance(message, BodyChunk | BodyEnd):
            endpoint = self.channel.streams.get(message.stream)
            if isinstance(endpoint, _HttpStream) and message.request in endpoint.bodies:
                body = endpoint.bodies[message.request]
                if isinstance(message, BodyChunk):
                    self.channel.receiver.on_data(message.stream, len(message.data))
                    body.put_nowait(message.data)
                    await self.channel.consumed(message.stream, len(message.data))
                else:
                    body.put_nowait(None)
            return True
        return False

    def _new_connection(self, conn: NewConnection) -> None:
        self.channel.open_stream(conn.stream, _Pending(self, conn))

    async def _connect(self, conn: NewConnection, pending: _Pending) -> None:
        try:
            reader, writer = await open_app(self.deliver, self.local_port(conn.port))
        except OSError as exc:
            await self.channel.send_stream(
                StreamClose(stream=conn.stream, error=f"local app: {exc}")
            )
            self.channel.forget_stream(conn.stream)
            return
        stream = TcpStream(self.channel, conn.stream, reader, writer)
        pending.target = stream
        self.channel.streams[conn.stream] = stream
        for data in pending.buffer:
            await stream.on_data(data)
        if pending.closed is not False:
            await stream.on_close(None if pending.closed is True else str(pending.closed))
            return
        if conn.mode == IncomingMode.MIRROR:
            return  # the app's answers to copies go nowhere
        stream.start()

    async def _exchange(
        self, http: _HttpStream, head: HttpRequestHead, body: asyncio.Queue[bytes | None]
    ) -> None:
        send: Callable[[Payload], Awaitable[None]] = self.channel.send
        try:
            reader, writer = await open_app(self.deliver, self.local_port(http.port))
        except OSError as exc:
            await send(
                HttpResponseHead(
                    stream=head.stream,
                    request=head.request,
                    status=502,
                    reason="Bad Gateway",
                    headers=(),
                )
            )
            await send(BodyEnd(stream=head.stream, request=head.request))
            self.tell(f"cannot reach the local app: {exc}")
            return
        conn = h11.Connection(h11.CLIENT)
        headers = [(k, v) for k, v in head.headers if k.lower() != b"connection"]
        headers.append((b"connection", b"close"))
        writer.write(
            conn.send(h11.Request(method=head.method, target=head.path, headers=headers)) or b""
        )
        while (chunk := await body.get()) is not None:
            writer.write(conn.send(h11.Data(data=chunk)) or b"")
        writer.write(conn.send(h11.EndOfMessage()) or b"")
        try:
            await self._relay_response(conn, reader, head)
        finally:
            writer.close()

    async def _relay_response(
        self, conn: h11.Connection, reader: asyncio.StreamReader, head: HttpRequestHead
    ) -> None:
        send = self.channel.send
        while True:
            event = conn.next_event()
            if event is h11.NEED_DATA:
                conn.receive_data(await reader.read(65536))
                continue
            if isinstance(event, h11.InformationalResponse):
                continue
            if isinstance(event, h11.Response):
                await send(
                    HttpResponseHead(
                        stream=head.stream,
                        request=head.request,
                        status=event.status_code,
                        reason=event.reason.decode(),
                        headers=tuple(event.headers),
                    )
                )
            elif isinstance(event, h11.Data):
                await self.channel.send_stream(
                    BodyChunk(stream=head.stream, request=head.request, data=bytes(event.data))
                )
            elif isinstance(event, h11.EndOfMessage):
                await send(
                    BodyEnd(stream=head.stream, request=head.request, trailers=tuple(event.headers))
                )
                return
            else:
                return

    async def close(self) -> None:
        await self._tasks.close()
