"""A client attached to its session: frames moved between the client and the agent.

The relay decides nothing about the session. Frames that concern it (a subscribe, an
unsubscribe, the agent's answer, an end) are reported to the session book through
``events`` (the service); what the book decides comes back as calls to :meth:`tell`,
:meth:`to_agent` and :meth:`finish`. Every other frame is checked and moved: toward the
agent with the session id added, toward the client through a per-session queue drained by
its own writer, so a stalled client stalls only itself (the protocol's per-stream windows
bound how much can wait there)."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from typing import Protocol

from podtap.core.ids import SessionId
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
from podtap.core.sessions import End, Event, SubscribeAnswered, SubscribeAsked, UnsubscribeAsked
from podtap.net.tasks import TaskSet
from podtap.net.wire import ConnectionClosed, ProtocolViolation, WireConnection
from podtap.operator.agents import AgentLink
from podtap.operator.metrics import Metrics

log = logging.getLogger(__name__)
FINISH_WAIT = 5.0  # seconds the client's writer may take to send its last frames


class SessionEvents(Protocol):
    """Where a relay reports what happened to its session (the service, in the operator)."""

    async def handle(self, event: Event) -> object:
        """From the client's reader: carried out before the next frame is read."""

    def report(self, event: Event) -> None:
        """From the agent link's reader, which must never wait."""


class Screening(Protocol):
    """What policies make of the frames (the service's :class:`~.policies.SessionPolicies`)."""

    def screen(self, session: SessionId, payload: Payload) -> Payload:
        """A frame from the agent as the client may see it."""

    def guard(self, session: SessionId, payload: Payload) -> Payload | None:
        """The answer to a client's frame a policy refuses; None: it goes to the agent."""


class Attachment:
    def __init__(
        self,
        *,
        session: SessionId,
        label: str,
        wire: WireConnection,
        events: SessionEvents,
        metrics: Metrics,
        policies: Screening | None = None,
    ) -> None:
        self.session = session
        self.label = label
        self.wire = wire
        self.events = events
        self.metrics = metrics
        self._policies = policies
        self.link: AgentLink | None = None
        self.flow = RelayFlowCheck()
        self._outbox: asyncio.Queue[Payload | None] = asyncio.Queue()
        self._tasks = TaskSet()
        self._writer = self._tasks.spawn(self._write(), name=f"session {label} writer")
        self._detached = False

    # -- agent -> client ---------------------------------------------------------------
    def deliver(self, payload: Payload) -> None:
        """From the agent (called by the agent link's reader; never blocks)."""
        if isinstance(payload, Close):  # the agent ended this session (and only this one)
            self._report_end(payload.reason, payload.message)
            return
        try:
            self.flow.check(payload, from_client=False)
        except FlowControlError as exc:
            self._report_end(CloseReason.AGENT_FAILED, f"the agent broke flow control: {exc}")
            return
        if isinstance(payload, SubscribeResult):  # the book first: status follows the agent
            self.events.report(SubscribeAnswered(session=self.session, result=payload))
        elif isinstance(payload, Data | BodyChunk):
            self.metrics.bytes.labels("to_client").inc(len(payload.data))
        elif isinstance(payload, HttpRequestHead):
            self.metrics.requests.inc()
        elif isinstance(payload, NewConnection):
            self.metrics.connections.labels(payload.mode.value).inc()
        if self._policies is not None:  # what policies keep from the client (env names)
            payload = self._policies.screen(self.session, payload)
        self._outbox.put_nowait(payload)

    def _report_end(self, reason: CloseReason, message: str) -> None:
        self.events.report(
            End(session=self.session, reason=reason, message=message, now=time.time())
        )

    def tell(self, payload: Payload) -> None:
        """A frame for the client, after those already queued."""
        self._outbox.put_nowait(payload)

    async def _write(self) -> None:
        while (payload := await self._outbox.get()) is not None:
            try:
                await self.wire.send(payload)
            except (ConnectionError, RuntimeError):
                return

    # -- client -> agent ---------------------------------------------------------------
    async def to_agent(self, payload: Payload) -> None:
        if self.link is not None:
            await self.link.send(self.session, payload)

    async def pump(self) -> None:
        """Relay the client's frames until it goes; what ends the session is reported."""
        try:
            await self._read()
        except (ProtocolViolation, ProtocolError) as exc:  # this client's fault, no one else's
            error = exc.error if isinstance(exc, ProtocolViolation) else exc
            await self._end(CloseReason.PROTOCOL_ERROR, f"bad frame: {error.message}")
        except ConnectionClosed as exc:
            if exc.close is not None and exc.close.reason == CloseReason.CLIENT_EXITED:
                await self._end(CloseReason.CLIENT_EXITED, "the client exited")
        except Exception as exc:
            log.exception("session %s failed", self.label)
            await self._end(CloseReason.AGENT_FAILED, f"cannot serve the session: {exc}")

    async def _end(self, reason: CloseReason, message: str) -> None:
        await self.events.handle(
            End(session=self.session, reason=reason, message=message, now=time.time())
        )

    async def _read(self) -> None:
        """Frames from the client. What the agent cannot serve is refused here, and what
        breaks flow control raises FlowControlError: the agent, shared by every session on
        the pod, never sees a frame the operator could have known to be bad."""
        while not self._detached:
            message = await self.wire.receive()
            refused = refuse_if_invalid(message) if not isinstance(message, Envelope) else None
            if refused is not None:
                self._outbox.put_nowait(refused)
                continue
            if not isinstance(message, Envelope) and self._policies is not None:
                answer = self._policies.guard(self.session, message)
                if answer is not None:  # refused by a policy: the agent never sees it
                    self._outbox.put_nowait(answer)
                    continue
            self.flow.check(message, from_client=True)
            if isinstance(message, Ping):
                self._outbox.put_nowait(Pong(nonce=message.nonce))
            elif isinstance(message, Subscribe):
                asked = SubscribeAsked(session=self.session, frame=message, now=time.time())
                await self.events.handle(asked)
            elif isinstance(message, Unsubscribe):
                let_go = UnsubscribeAsked(session=self.session, port=message.port, now=time.time())
                await self.events.handle(let_go)
            elif isinstance(message, Envelope):
                self._outbox.put_nowait(
                    ErrorFrame(
                        code=ErrorCode.UNEXPECTED_MESSAGE,
                        message="clients do not send envelopes",
                        in_reply_to=Envelope.TAG,
                    )
                )
            else:
                if isinstance(message, Data | BodyChunk):
                    self.metrics.bytes.labels("to_agent").inc(len(message.data))
                await self.to_agent(message)

    # -- the end -----------------------------------------------------------------------
    async def finish(self, reason: CloseReason, message: str) -> None:
        """The session is over: tell the client why (after what is queued), and wait a
        little for it to be sent."""
        self._outbox.put_nowait(Close(reason=reason, message=message))
        self._outbox.put_nowait(None)
        with contextlib.suppress(TimeoutError, asyncio.CancelledError):
            await asyncio.wait_for(asyncio.shield(self._writer), FINISH_WAIT)

    async def detach(self) -> None:
        """Let go of the client and of the session at the agent, which drops its ports and
        streams there (traffic goes back to the app). Idempotent."""
        if self._detached:
            return
        self._detached = True
        if self.link is not None:
            with contextlib.suppress(ConnectionError, RuntimeError):
                await self.link.send(
                    self.session, Close(reason=CloseReason.CLIENT_EXITED, message="detached")
                )
        with contextlib.suppress(Exception):
            await self.wire.ws.close()
        await self._tasks.close()
