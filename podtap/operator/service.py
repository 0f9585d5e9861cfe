"""The operator's session service: open, attach, arbitrate, kill, expire, restore.

Deciding (arbitration, lifecycle) is done by pure functions in podtap.core; this module
acts on their decisions."""

from __future__ import annotations

import asyncio
import logging
import time
from dataclasses import dataclass, field
from pathlib import Path

from podtap.backends.base import ClusterBackend, ResolvedTarget, TargetError, TargetRef
from podtap.core.arbitration import (
    OnConcurrentSteal,
    PortSubscription,
    eviction_notice,
    start_refusal,
)
from podtap.core.ids import Port, SessionId, format_session_id, new_session_id
from podtap.core.lifecycle import Activity, Limits, expired
from podtap.core.protocol import CloseReason, HttpFilter, IncomingMode
from podtap.net.tasks import TaskSet
from podtap.operator.agents import AgentLink, AgentManager
from podtap.operator.audit import AuditLog
from podtap.operator.identity import Caller
from podtap.operator.metrics import Metrics
from podtap.operator.records import RecordStore, SessionRecord

log = logging.getLogger(__name__)


class OperatorError(Exception):
    """A request the operator refuses; `status` is the HTTP status to answer with."""

    def __init__(self, status: int, message: str) -> None:
        self.status = status
        super().__init__(message)


@dataclass(frozen=True, kw_only=True)
class OperatorSettings:
    state_dir: Path
    limits: Limits = field(default_factory=Limits)
    admin_groups: tuple[str, ...] = ("podtap-admins",)
    agent_grace: float = 5.0


class StartRefused(OperatorError):
    """A connect refused because a port it will steal is held (on_concurrent_steal=abort)."""

    def __init__(self, message: str) -> None:
        super().__init__(409, message)


@dataclass(frozen=True, slots=True, kw_only=True)
class ConnectOptions:
    """What a connect says of the session it opens: how it treats a port another session
    steals, the ports it will steal whatever its command does (configured ``ports``: checked
    before the command starts), and its session key."""

    on_concurrent_steal: OnConcurrentSteal = OnConcurrentSteal.ABORT
    steals: tuple[tuple[Port, HttpFilter | None], ...] = ()
    key: str | None = None


@dataclass(frozen=True, slots=True, kw_only=True)
class Opening:
    """A connect the operator agreed to upgrade, before the client's hello. It records
    nothing: a connect that never says hello must cost no record, no audit event and no
    write to the state dir (a flood of them once piled up for the setup deadline)."""

    id: SessionId
    resumed: SessionRecord | None
    resolved: ResolvedTarget
    owner: str
    uid: int
    target: str
    namespace: str
    client_version: str
    options: ConnectOptions = field(default_factory=ConnectOptions)

    @property
    def label(self) -> str:
        return format_session_id(self.id)


class OperatorService:
    def __init__(self, settings: OperatorSettings, backend: ClusterBackend) -> None:
        self.settings = settings
        self.backend = backend
        self.started = time.time()
        self.records: dict[SessionId, SessionRecord] = {}
        self.attached: dict[SessionId, Attachment] = {}
        self.metrics = Metrics()
        settings.state_dir.mkdir(parents=True, exist_ok=True)
        self.audit = AuditLog(settings.state_dir / "audit.jsonl")
        self._store = RecordStore(
            settings.state_dir / "sessions.json", snapshot=lambda: self.records.values()
        )
        self.agents = AgentManager(
            backend,
            run_dir=settings.state_dir / "agents",
            grace=settings.agent_grace,
            on_lost=self._agent_lost,
            on_stats=self._agent_stats,
        )
        self._tasks = TaskSet()

    # -- lifecycle -----------------------------------------------------------------
    async def start(self) -> None:
        for record in self._store.load():
            self.records[record.id] = record
            self.audit.event("session_restored", session=record.label, user=record.owner)
        self._tasks.spawn(self._expire_loop(), name="session lifecycle")

    async def close(self) -> None:
        await self._tasks.close()
        for attachment in list(self.attached.values()):
            await attachment.detach()
        await self.agents.close()
        self._store.close()
        self.audit.close()

    def save(self) -> None:
        """Nothing left to do: the store journals a record as it changes (see RecordStore
        and Subscriptions); callers that changed one may still say so."""

    async def _expire_loop(self) -> None:
        while True:
            await asyncio.sleep(1.0)
            now = time.time()
            for record in list(self.records.values()):
                record.connected = record.id in self.attached
                if record.connected:
                    record.last_seen = now
                activity = Activity(
                    created=record.created,
                    connected_once=record.connected_once,
                    connected_now=record.connected,
                    last_seen=record.last_seen,
                )
                verdict = expired(activity, self.settings.limits, now=now)
                if verdict is not None:
                    reason, message = verdict
                    if reason == CloseReason.UNUSED and record.restored:
                        reason = CloseReason.STATE_LOST
                        message = "the operator restarted and the client did not come back"
                    await self.end(record, reason, message)

    # -- sessions ----------------------------------------------------------------------
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
    ) -> tuple[SessionRecord | None, ResolvedTarget]:
        """Everything `open` would refuse, without opening anything."""
        record: SessionRecord | None = None
        if resume is not None:
            record = self.records.get(resume)
            if record is None or record.closed:
                raise OperatorError(410, f"session {format_session_id(resume)} is gone")
            if record.uid != caller.uid and not caller.admin:
                raise OperatorError(403, f"session {record.label} belongs to {record.owner}")
            if resume in self.attached:
                raise OperatorError(409, f"session {record.label} already has a client")
            target, namespace = TargetRef.parse(record.target), record.namespace
        resolved = await self.resolve(target, namespace)
        if options is not None:
            self._refuse_held_steals(resolved, resume, options, owner=caller.name)
        return record, resolved

    def _refuse_held_steals(
        self,
        resolved: ResolvedTarget,
        session: SessionId | None,
        options: ConnectOptions,
        *,
        owner: str,
    ) -> None:
        """StartRefused if a port the session will steal is held (on_concurrent_steal=abort):
        the run stops before its command starts."""
        now = time.time()
        wanted = [
            PortSubscription(
                session=session if session is not None else SessionId(0),
                user=owner,
                since=now,
                mode=IncomingMode.STEAL,
                http_filter=flt,
                port=port,
            )
            for port, flt in options.steals
        ]
        refusal = start_refusal(
            self.held(resolved.namespace, resolved.pod.name, other_than=session),
            wanted,
            on_concurrent_steal=options.on_concurrent_steal,
            now=now,
        )
        if refusal is not None:
            raise StartRefused(refusal.message)

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
            existing, resolved = await self.check(
                caller, target=target, namespace=namespace, resume=resume, options=options
            )
        except StartRefused as exc:
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
            id=existing.id if existing is not None else new_session_id(),
            resumed=existing,
            resolved=resolved,
            owner=caller.owner(whoami=whoami, host=host),
            uid=caller.uid,
            target=str(target),
            namespace=namespace,
            client_version=client_version,
            options=options,
        )

    def begin(self, opening: Opening) -> SessionRecord:
        """The client said hello: its session exists from now on (or resumes)."""
        if opening.resumed is not None:
            return opening.resumed
        record = SessionRecord(
            id=opening.id,
            owner=opening.owner,
            uid=opening.uid,
            target=opening.target,
            namespace=opening.namespace,
            pod=opening.resolved.pod.name,
            client_version=opening.client_version,
            key=opening.options.key,
        )
        self.records[record.id] = record
        self.metrics.sessions_total.inc()
        self.audit.event(
            "session_start",
            session=record.label,
            user=record.owner,
            target=record.target,
            namespace=record.namespace,
            pod=record.pod,
            key=record.key,
        )
        self._store.add(record)
        return record

    async def end(self, record: SessionRecord, reason: CloseReason, message: str) -> None:
        if record.closed:
            return
        record.closed = reason.value
        attachment = self.attached.get(record.id)
        if attachment is not None:
            await attachment.end(reason, message)
        self.records.pop(record.id, None)
        self.metrics.closed.labels(reason.value).inc()
        self.audit.event(
            "session_end",
            session=record.label,
            user=record.owner,
            reason=reason.value,
            message=message,
        )
        self._store.drop(record)

    async def kill(self, session: SessionId, *, by: Caller) -> SessionRecord:
        record = self.records.get(session)
        if record is None:
            raise OperatorError(404, f"no session {format_session_id(session)}")
        if record.uid != by.uid and not by.admin:
            raise OperatorError(
                403,
                f"session {record.label} belongs to {record.owner}; "
                "only its owner or an admin may kill it",
            )
        self.audit.event("session_kill", session=record.label, user=record.owner, by=by.name)
        await self.end(record, CloseReason.KILLED, f"Killed by {by.name}")
        return record

    async def prune(self, *, by: Caller) -> list[SessionRecord]:
        gone = [
            r
            for r in self.records.values()
            if r.id not in self.attached and (by.admin or r.uid == by.uid)
        ]
        for record in gone:
            await self.end(record, CloseReason.UNUSED, f"pruned by {by.name}: no client")
        return gone

    def _agent_stats(self, delta: dict[str, int]) -> None:
        for kind, count in delta.items():
            if count > 0:
                self.metrics.agent_traffic.labels(kind).inc(count)

    async def _agent_lost(self, link: AgentLink) -> None:
        for sid in list(link.sessions):
            record = self.records.get(sid)
            if record is not None:
                await self.end(
                    record,
                    CloseReason.AGENT_FAILED,
                    f"the agent of pod {link.key[1]} failed: {link.lost_reason}",
                )

    async def evict(self, session: SessionId, port: int, *, by: PortSubscription) -> None:
        """`by` took `port` over (on_concurrent_steal=override): the holder loses it, in
        the records and arbitration at once, and its client is told to stop claiming it."""
        record = self.records.get(session)
        if record is None or record.subscriptions.pop(port, None) is None:
            return
        self.audit.event(
            "evicted",
            session=record.label,
            user=record.owner,
            port=port,
            by=by.user,
            by_session=format_session_id(by.session),
        )
        attachment = self.attached.get(session)
        if attachment is not None:
            await attachment.unsubscribe_evicted(
                port, f"{eviction_notice(by)}; this session no longer gets its traffic"
            )

    def holders(self, namespace: str, pod: str) -> list[SessionRecord]:
        return [
            r
            for r in self.records.values()
            if r.namespace == namespace and r.pod == pod and not r.closed
        ]

    def held(
        self, namespace: str, pod: str, *, other_than: SessionId | None, port: int | None = None
    ) -> list[PortSubscription]:
        """The subscriptions of the pod's sessions but `other_than` (of `port`, or all), as
        arbitration sees them."""
        return [
            PortSubscription(
                session=r.id,
                user=r.owner,
                since=s.since,
                mode=s.mode,
                http_filter=s.http_filter,
                port=Port(s.port),
            )
            for r in self.holders(namespace, pod)
            if r.id != other_than
            for s in r.subscriptions.values()
            if port is None or s.port == port
        ]

    def matching(self, key: str | None) -> list[SessionRecord]:
        """Sessions with session key `key` (every session when None), oldest first."""
        return sorted(
            (r for r in self.records.values() if key is None or r.key == key),
            key=lambda r: r.created,
        )


from podtap.operator.relay import Attachment  # noqa: E402  (cycle: Attachment uses the service)
