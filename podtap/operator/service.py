"""The operator's session service: carries out what the session book decides.

Every decision on a session (arbitration, hand-offs, lifecycle, kill) is the book's
(`podtap.core.sessions`): events in, effects out. This module feeds it what the API, the
relays, the agent links and the clock report, and executes the effects it returns, in
order: the journal and the audit log, frames to clients (through their relay) and to
agents. It decides nothing itself."""

from __future__ import annotations

import asyncio
import logging
import time

from podtap.backends.base import ClusterBackend, ResolvedTarget, TargetError, TargetRef
from podtap.core.ids import SessionId, format_session_id, new_session_id
from podtap.core.protocol import CloseReason, Unsubscribe
from podtap.core.protocol import Subscribe as SubscribeFrame
from podtap.core.sessions import (
    Attach,
    Audit,
    Begin,
    Close,
    Detach,
    Effect,
    End,
    Event,
    Forget,
    Kill,
    Linked,
    Persist,
    Prune,
    Release,
    Restore,
    SessionBook,
    SessionStateError,
    Subscribe,
    SubscribeAsked,
    Tell,
    Tick,
    Wake,
)
from podtap.net.tasks import TaskSet
from podtap.net.wire import WireConnection
from podtap.operator.agents import AgentLink, AgentManager
from podtap.operator.audit import AuditLog
from podtap.operator.identity import Caller
from podtap.operator.metrics import Metrics
from podtap.operator.policies import NoPolicies, PolicySource, SessionPolicies
from podtap.operator.policy_live import enforce_changes, refuse_grant, refuse_subscribe
from podtap.operator.queue_splits import QueueSplits, SplitRefused, SplitScreening
from podtap.operator.records import RecordStore, SessionRecord
from podtap.operator.relay import Attachment
from podtap.operator.session_store import SessionStore
from podtap.operator.settings import (
    ConnectOptions,
    Opening,
    OperatorError,
    OperatorSettings,
    PolicyRefused,
    SessionRules,
    StartRefused,
    refusals,
)
from podtap.operator.steal_check import refuse_held_steals

__all__ = [
    "ConnectOptions",
    "Opening",
    "OperatorError",
    "OperatorService",
    "OperatorSettings",
    "StartRefused",
]

log = logging.getLogger(__name__)


class OperatorService:
    def __init__(
        self,
        settings: OperatorSettings,
        backend: ClusterBackend,
        *,
        store: SessionStore | None = None,
        policies: PolicySource | None = None,
    ) -> None:
        self.settings = settings
        self.backend = backend
        self.started = time.time()
        self.book = SessionBook(limits=settings.limits, grace=settings.handoff_grace)
        self.attached: dict[SessionId, Attachment] = {}
        self.metrics = Metrics()
        settings.state_dir.mkdir(parents=True, exist_ok=True)
        self.audit = AuditLog(settings.state_dir / "audit.jsonl")
        self._store: SessionStore = store or RecordStore(
            settings.state_dir / "sessions.json", snapshot=lambda: self.book.records.values()
        )
        self.agents = AgentManager(
            backend,
            run_dir=settings.state_dir / "agents",
            grace=settings.agent_grace,
            on_lost=self._agent_lost,
            on_stats=self.metrics.count_agent_traffic,
        )
        self._tasks = TaskSet()
        self.policies = SessionPolicies(policies or NoPolicies(), audit=self.audit.event)
        self.splits = QueueSplits(  # a split that fails under a session ends it
            backend,
            audit=self.audit.event,
            metrics=self.metrics,
            on_fail=lambda sid, why: self.report(_end(sid, CloseReason.OTHER, why)),
            users=lambda sid: r.owner if (r := self.records.get(sid)) else None,
            namespace=settings.namespace,
        )

    @property
    def records(self) -> dict[SessionId, SessionRecord]:
        """The live sessions (the book's)."""
        return self.book.records

    # -- lifecycle -----------------------------------------------------------------
    async def start(self) -> None:
        await self.handle(Restore(records=tuple(await self._store.restore())))
        self._tasks.spawn(self._tick_loop(), name="session lifecycle")
        self._tasks.spawn(enforce_changes(self), name="policies live")
        self.splits.start()  # what an operator that died with splits running left

    async def close(self) -> None:
        await self._tasks.close()
        await self.splits.close()
        for attachment in list(self.attached.values()):
            await self._let_go(attachment)
        await self.agents.close()
        await self._store.aclose()
        self.audit.close()

    async def _tick_loop(self) -> None:
        while True:
            await asyncio.sleep(1.0)
            await self.handle(Tick(now=time.time()))

    # -- events in, effects out ----------------------------------------------------
    async def handle(self, event: Event) -> list[Effect]:
        """Feed the book `event` and carry out its effects, in order (a subscribe a
        policy refuses is answered here: the book never sees it)."""
        if isinstance(event, SubscribeAsked) and refuse_subscribe(self, event):
            return []
        effects = self.book.handle(event)
        await self._act_all(effects)
        return effects

    def report(self, event: Event) -> None:
        """`handle`, for callers that must not wait: the effects up to the first that
        waits are carried out now, the rest by a task, in order."""
        effects = self.book.handle(event)
        for index, effect in enumerate(effects):
            if not self._act_now(effect):
                self._tasks.spawn(self._act_all(effects[index:]), name="session effects")
                return

    async def _act_all(self, effects: list[Effect]) -> None:
        for effect in effects:
            if not self._act_now(effect):
                await self._act(effect)

    def _act_now(self, effect: Effect) -> bool:
        """Carry out `effect` if it needs no waiting; whether it did."""
        match effect:
            case Persist():
                record = self.book.records.get(effect.session)
                if record is not None:  # else it ended in the same step: Forget follows
                    self._store.put(record)
            case Forget():
                self._store.drop(effect.session)
                self.policies.forget(effect.session)
                self.splits.leave(effect.session)
            case Audit():
                self._audit(effect)
            case Tell():
                attachment = self.attached.get(effect.session)
                if attachment is not None:
                    attachment.tell(effect.payload)
            case Wake():
                self._tasks.spawn(self._wake(effect.at), name="session wake")
            case _:
                return False
        return True

    async def _act(self, effect: Effect) -> None:
        attachment = self.attached.get(getattr(effect, "session", SessionId(0)))
        if attachment is None:
            return  # no client: nothing to tell, and its agent already let it go
        match effect:
            case Subscribe():
                if await refuse_grant(self, effect):  # policies changed since it was asked
                    return
                frame = SubscribeFrame(
                    request=effect.request,
                    port=effect.port,
                    mode=effect.mode,
                    http_filter=effect.http_filter,
                )
                await attachment.to_agent(frame)
            case Release():
                await attachment.to_agent(Unsubscribe(port=effect.port))
            case Close():
                await attachment.finish(effect.reason, effect.message)
                await self._let_go(attachment)

    def _audit(self, effect: Audit) -> None:
        self.audit.event(effect.kind, **effect.fields)
        if effect.kind == "session_start":
            self.metrics.sessions_total.inc()
        elif effect.kind == "session_end":
            self.metrics.closed.labels(str(effect.fields["reason"])).inc()
        elif effect.kind == "refusal":
            self.metrics.refusals.inc()

    async def _wake(self, at: float) -> None:
        await asyncio.sleep(max(0.0, at - time.time()))
        await self.handle(Tick(now=max(at, time.time())))

    # -- clients -------------------------------------------------------------------
    async def serve(
        self,
        record: SessionRecord,
        wire: WireConnection,
        resolved: ResolvedTarget,
        options: ConnectOptions,
    ) -> None:
        """Relay `record`'s client on `wire` until it goes."""
        attachment = Attachment(
            session=record.id,
            label=record.label,
            wire=wire,
            events=self,
            metrics=self.metrics,
            policies=SplitScreening(self.policies, self.splits),
        )
        attach = Attach(
            session=record.id, on_concurrent_steal=options.on_concurrent_steal, now=time.time()
        )
        try:
            await self.handle(attach)
        except SessionStateError as exc:  # ended, or another client attached meanwhile
            await attachment.finish(CloseReason.OTHER, str(exc))
            await attachment.detach()
            return
        self.attached[record.id] = attachment
        try:
            try:
                attachment.link = await self.agents.acquire(resolved, record.id, attachment.deliver)
            except Exception as exc:
                log.exception("session %s: no agent", record.label)
                message = f"cannot serve the session: {exc}"
                await self.handle(_end(record.id, CloseReason.AGENT_FAILED, message))
                return
            await self.handle(Linked(session=record.id))
            await attachment.pump()
        finally:
            await self._let_go(attachment)

    async def _let_go(self, attachment: Attachment) -> None:
        """The client is gone (or its session ended): the agent drops the session's ports
        and streams, so traffic goes back to the app; the record stays until its TTL."""
        session = attachment.session
        if self.attached.get(session) is not attachment:
            await attachment.detach()
            return
        del self.attached[session]
        await attachment.detach()
        if attachment.link is not None:
            self.agents.release(attachment.link, session)
        await self.handle(Detach(session=session, now=time.time()))

    # -- sessions ------------------------------------------------------------------
    async def resolve(self, target: TargetRef, namespace: str) -> ResolvedTarget:
        try:
            return await self.backend.resolve(target, namespace=namespace)
        except TargetError as exc:
            raise OperatorError(404 if "not found" in str(exc) else 409, str(exc)) from None

    async def check(
        self,
        caller: Caller,
        *,
        target: TargetRef,
        namespace: str,
        resume: SessionId | None,
        options: ConnectOptions | None = None,
    ) -> tuple[SessionRecord | None, ResolvedTarget, SessionRules]:
        """Everything `open` would refuse, without opening anything."""
        record: SessionRecord | None = None
        if resume is not None:
            with refusals():
                record = self.book.resumable(resume, caller.actor)
            target, namespace = TargetRef.parse(record.target), record.namespace
        resolved = await self.resolve(target, namespace)
        if options is not None:
            held = self.book.held(resolved.namespace, resolved.pod.name, other_than=resume)
            refuse_held_steals(held, resume, options, owner=caller.name)
        rules = await self.policies.admit(self.backend, resolved, options or ConnectOptions())
        return record, resolved, rules

    async def open(
        self,
        caller: Caller,
        *,
        target: TargetRef,
        namespace: str,
        whoami: str | None,
        host: str | None,
        client_version: str,
        resume: SessionId | None,
        options: ConnectOptions | None = None,
    ) -> Opening:
        """Everything checked for a connect, nothing recorded: `begin` does that once the
        client has said hello (a refusal is audited)."""
        options = options or ConnectOptions()
        try:
            existing, resolved, rules = await self.check(
                caller, target=target, namespace=namespace, resume=resume, options=options
            )
            sid = existing.id if existing is not None else new_session_id()
            resolved = await self.splits.admit(sid, resolved, options.splits)
        except (StartRefused, PolicyRefused, SplitRefused) as exc:
            self.metrics.refusals.inc()
            self.audit.event(
                "refusal",
                session=format_session_id(resume) if resume is not None else None,
                user=caller.owner(whoami=whoami, host=host),
                target=str(target),
                namespace=namespace,
                reason=str(exc),
            )
            raise
        return Opening(
            id=sid,
            resumed=existing,
            resolved=resolved,
            owner=caller.owner(whoami=whoami, host=host),
            principal=caller.principal,
            target=str(target),
            namespace=namespace,
            client_version=client_version,
            options=options,
            rules=rules,
        )

    def begin(self, opening: Opening) -> SessionRecord:
        """The client said hello: its session exists from now on (or resumes)."""
        if opening.rules is not None:
            self.policies.rules[opening.id] = opening.rules
        if opening.resumed is not None:
            return opening.resumed
        self.report(
            Begin(
                session=opening.id,
                owner=opening.owner,
                principal=opening.principal,
                target=opening.target,
                namespace=opening.namespace,
                pod=opening.resolved.pod.name,
                client_version=opening.client_version,
                key=opening.options.key,
                now=time.time(),
            )
        )
        return self.book.records[opening.id]

    async def end(self, record: SessionRecord, reason: CloseReason, message: str) -> None:
        await self.handle(_end(record.id, reason, message))

    async def kill(self, session: SessionId, *, by: Caller) -> SessionRecord:
        record = self.book.records.get(session)
        with refusals():
            await self.handle(Kill(session=session, by=by.actor, now=time.time()))
        assert record is not None  # else the book refused
        return record

    async def prune(self, *, by: Caller) -> list[SessionRecord]:
        before = dict(self.book.records)
        effects = await self.handle(Prune(by=by.actor, now=time.time()))
        return [before[e.session] for e in effects if isinstance(e, Close)]

    async def _agent_lost(self, link: AgentLink) -> None:
        message = f"the agent of pod {link.key[1]} failed: {link.lost_reason}"
        for sid in list(link.sessions):
            await self.handle(_end(sid, CloseReason.AGENT_FAILED, message))

    def matching(self, key: str | None) -> list[SessionRecord]:
        """Sessions with session key `key` (every session when None), oldest first."""
        return self.book.matching(key)


def _end(session: SessionId, reason: CloseReason, message: str) -> End:
    return End(session=session, reason=reason, message=message, now=time.time())
