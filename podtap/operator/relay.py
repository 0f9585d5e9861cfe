"""A client attached to its session: frames relayed between the client and the agent.

The operator adds the session id toward the agent and checks every subscription with the
arbiter. Frames for the client go through a per-session queue drained by its own writer,
so a stalled client stalls only itself; the protocol's per-stream windows bound how much
can wait there."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from typing import TYPE_CHECKING

from podtap.backends.base import ResolvedTarget
from podtap.core.arbitration import (
    Allow,
    OnConcurrentSteal,
    Override,
    PortSubscription,
    Refuse,
    abort_message,
    decide,
)
from podtap.core.ids import Port, RequestId
from podtap.core.protocol import (
    BodyChunk,
    Close,
    CloseReason,
    Data,
    Envelope,
    ErrorCode,
    ErrorFrame,
    FlowControlError,
    HttpRequestHead,
    Log,
    LogLevel,
    NewConnection,
    Payload,
    Ping,
    Pong,
    ProtocolError,
    RelayFlowCheck,
    Subscribe,
    SubscribeResult,
    Unsubscribe,
    refuse_if_invalid,
)
from podtap.net.tasks import TaskSet, spawn
from podtap.net.wire import ConnectionClosed, ProtocolViolation, WireConnection
from podtap.operator.agents import AgentLink
from podtap.operator.records import SessionRecord, SubscriptionRecord

if TYPE_CHECKING:
    from podtap.operator.service import OperatorService

log = logging.getLogger(__name__)


class Attachment:
    def __init__(
        self,
        service: OperatorService,
        record: SessionRecord,
        wire: WireConnection,
        resolved: ResolvedTarget,
        *,
        on_concurrent_steal: OnConcurrentSteal,
    ) -> None:
        self.service = service
        self.record = record
        self.wire = wire
        self.resolved = resolved
        self.on_concurrent_steal = on_concurrent_steal
        self.link: AgentLink | None = None
        self._outbox: asyncio.Queue[Payload | None] = asyncio.Queue()
        self._pending: dict[RequestId, int] = {}
        self._tasks = TaskSet()
        self._writer: asyncio.Task[None] | None = None
        self.flow = RelayFlowCheck()
        self._ending = False

    # -- agent -> client ---------------------------------------------------------------
    def deliver(self, payload: Payload) -> None:
        """From the agent (called by the agent link's reader; never blocks)."""
        if isinstance(payload, Close):  # the agent ended this session (and only this one)
            self._end_soon(payload.reason, payload.message)
            return
        try:
            self.flow.check(payload, from_client=False)
        except FlowControlError as exc:
            self._end_soon(CloseReason.AGENT_FAILED, f"the agent broke flow control: {exc}")
            return
        if isinstance(payload, SubscribeResult):
            port = self._pending.pop(payload.request, None)
            if port is not None and not payload.ok:
                self.record.subscriptions.pop(port, None)
                self.service.save()
        metrics = self.service.metrics
        if isinstance(payload, Data | BodyChunk):
            metrics.bytes.labels("to_client").inc(len(payload.data))
        elif isinstance(payload, HttpRequestHead):
            metrics.requests.inc()
        elif isinstance(payload, NewConnection):
            metrics.connections.labels(payload.mode.value).inc()
        self._outbox.put_nowait(payload)

    def _end_soon(self, reason: CloseReason, message: str) -> None:
        """End the session from the agent link's reader, which must not wait. The task is
        not ours: ending it closes our tasks."""
        if not self._ending:
            self._ending = True
            spawn(self.service.end(self.record, reason, message), name=f"end {self.record.label}")

    def tell(self, level: LogLevel, message: str) -> None:
        self._outbox.put_nowait(Log(level, message))

    async def _write(self) -> None:
        while (payload := await self._outbox.get()) is not None:
            try:
                await self.wire.send(payload)
            except (ConnectionError, RuntimeError):
                return

    # -- running -----------------------------------------------------------------------
    async def run(self) -> None:
        record, service = self.record, self.service
        service.attached[record.id] = self
        record.connected = record.connected_once = True
        record.restored = False
        writer = self._writer = self._tasks.spawn(
            self._write(), name=f"session {record.label} writer"
        )
        try:
            self.link = await service.agents.acquire(self.resolved, record.id, self.deliver)
            for sub in list(record.subscriptions.values()):  # resumed or restored session
                await self._forward_subscribe(
                    Subscribe(RequestId(0), Port(sub.port), sub.mode, sub.http_filter)
                )
            await self._read()
        except (ProtocolViolation, ProtocolError) as exc:  # this client's fault, no one else's
            error = exc.error if isinstance(exc, ProtocolViolation) else exc
            await service.end(record, CloseReason.PROTOCOL_ERROR, f"bad frame: {error.message}")
        except ConnectionClosed as exc:
            if exc.close is not None and exc.close.reason == CloseReason.CLIENT_EXITED:
                await service.end(record, CloseReason.CLIENT_EXITED, "the client exited")
        except Exception as exc:
            log.exception("session %s failed", record.label)
            await service.end(record, CloseReason.AGENT_FAILED, f"cannot serve the session: {exc}")
        finally:
            await self.detach()
            writer.cancel()

    async def _read(self) -> None:
        """Frames from the client. What the agent cannot serve is refused here, and what
        breaks flow control raises FlowControlError: the agent, shared by every session on
        the pod, never sees a frame the operator could have known to be bad."""
        assert self.link is not None
        while not self.record.closed:
            message = await self.wire.receive()
            self.record.last_seen = time.time()
            refused = refuse_if_invalid(message) if not isinstance(message, Envelope) else None
            if refused is not None:
                self._outbox.put_nowait(refused)
                continue
            self.flow.check(message, from_client=True)
            if isinstance(message, Ping):
                self._outbox.put_nowait(Pong(message.nonce))
            elif isinstance(message, Subscribe):
                await self._subscribe(message)
            elif isinstance(message, Unsubscribe):
                if self.record.subscriptions.pop(message.port, None) is not None:
                    self.service.audit.event(
                        "unsubscribe",
                        session=self.record.label,
                        user=self.record.owner,
                        port=message.port,
                    )
                    self.service.save()
                await self.link.send(self.record.id, message)
            elif isinstance(message, Envelope):
                self._outbox.put_nowait(
                    ErrorFrame(
                        ErrorCode.UNEXPECTED_MESSAGE, "clients do not send envelopes", Envelope.TAG
                    )
                )
            else:
                if isinstance(message, Data | BodyChunk):
                    self.service.metrics.bytes.labels("to_agent").inc(len(message.data))
                await self.link.send(self.record.id, message)

    async def _subscribe(self, req: Subscribe) -> None:
        record, service = self.record, self.service
        now = time.time()
        existing = service.held(record.namespace, record.pod, other_than=record.id, port=req.port)
        wanted = PortSubscription(
            session=record.id,
            user=record.owner,
            since=now,
            mode=req.mode,
            http_filter=req.http_filter,
            port=req.port,
        )
        decision = decide(existing, wanted, on_concurrent_steal=self.on_concurrent_steal, now=now)
        flt = req.http_filter.describe() if req.http_filter else None
        if isinstance(decision, Override):
            for holder in decision.evict:
                await service.evict(holder.session, req.port, by=wanted)
        elif not isinstance(decision, Allow):
            service.metrics.refusals.inc()
            service.audit.event(
                "refusal",
                session=record.label,
                user=record.owner,
                port=req.port,
                mode=req.mode.value,
                filter=flt,
                reason=decision.message,
            )
            self._outbox.put_nowait(SubscribeResult(req.request, False, decision.message))
            if isinstance(decision, Refuse):  # on_concurrent_steal=abort: the run ends
                await service.end(record, CloseReason.OTHER, abort_message(decision.message))
            return
        record.subscriptions[req.port] = SubscriptionRecord(
            req.port, req.mode, req.http_filter, now
        )
        service.audit.event(
            "subscribe",
            session=record.label,
            user=record.owner,
            port=req.port,
            mode=req.mode.value,
            filter=flt,
        )
        service.save()
        await self._forward_subscribe(req)

    async def _forward_subscribe(self, req: Subscribe) -> None:
        assert self.link is not None
        if req.request:
            self._pending[req.request] = req.port
        await self.link.send(self.record.id, req)

    async def unsubscribe_evicted(self, port: int, message: str) -> None:
        """Another session took `port` over: the agent stops routing it here, and the
        client is told why (`message`) and that the port is no longer its own (an
        `Unsubscribe` toward the client), so it does not claim it again."""
        if self.link is not None:
            await self.link.send(self.record.id, Unsubscribe(Port(port)))
        self.tell(LogLevel.WARNING, message)
        self._outbox.put_nowait(Unsubscribe(Port(port)))

    async def end(self, reason: CloseReason, message: str) -> None:
        """The session is over: tell the client why, and let go of it."""
        self._outbox.put_nowait(Close(reason, message))
        self._outbox.put_nowait(None)
        if self._writer is not None:
            with contextlib.suppress(TimeoutError, asyncio.CancelledError):
                await asyncio.wait_for(asyncio.shield(self._writer), 5)
        await self.detach()

    async def detach(self) -> None:
        """The client is gone (or the session ended): the agent drops the session's ports
        and streams, so traffic goes back to the app; the record stays until its TTL."""
        service, record = self.service, self.record
        if service.attached.get(record.id) is not self:
            return
        del service.attached[record.id]
        record.connected = False
        record.last_seen = time.time()
        if self.link is not None:
            with contextlib.suppress(ConnectionError, RuntimeError):
                await self.link.send(record.id, Close(CloseReason.CLIENT_EXITED, "detached"))
            service.agents.release(self.link, record.id)
        with contextlib.suppress(Exception):
            await self.wire.ws.close()
        await self._tasks.close()
