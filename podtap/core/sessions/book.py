"""The session book (pure): every session's record and state, and every decision on them.

The operator's shells report what happened as events (:mod:`.events`); :meth:`SessionBook.
handle` updates the records and answers with the effects that carry its decisions out
(:mod:`.effects`), which ``operator/service.py`` executes in order. Nothing here does I/O
or reads the clock, so the whole session behaviour is tested as transcripts (kopf keeps
deciding apart from acting the same way; h11 keeps its state machine free of sockets)."""

from __future__ import annotations

from typing import Final, Literal

from podtap.core.arbitration import PortSubscription
from podtap.core.ids import Port, RequestId, SessionId, format_session_id
from podtap.core.lifecycle import Activity, Limits, expired
from podtap.core.protocol import CloseReason
from podtap.core.sessions.claims import PortClaims
from podtap.core.sessions.effects import Audit, Close, Effect, Forget, Persist, Subscribe
from podtap.core.sessions.events import (
    Actor,
    Attach,
    Begin,
    Detach,
    End,
    Event,
    Kill,
    Linked,
    Prune,
    Restore,
    SubscribeAnswered,
    SubscribeAsked,
    Tick,
    UnsubscribeAsked,
)
from podtap.core.sessions.handoff import HandOff
from podtap.core.sessions.records import (
    Move,
    SessionRecord,
    SessionState,
    SessionStateError,
    advance,
)

__all__ = ["DEFAULT_GRACE", "BookError", "SessionBook"]

DEFAULT_GRACE: Final = 0.5
"""Seconds a port taken with ``override`` stays with its holder once told."""


class BookError(Exception):
    """A request the book refuses: ``kind`` says why (the API answers 404, 403, 410, 409)."""

    def __init__(
        self, kind: Literal["not_found", "forbidden", "gone", "conflict"], message: str
    ) -> None:
        self.kind = kind
        super().__init__(message)


class SessionBook:
    def __init__(self, *, limits: Limits | None = None, grace: float = DEFAULT_GRACE) -> None:
        self.limits = limits or Limits()
        self.records: dict[SessionId, SessionRecord] = {}  # the live sessions
        self._closing: dict[SessionId, SessionRecord] = {}  # ended, client not let go yet
        self.ports = PortClaims(self.records, grace=grace)

    # -- queries ---------------------------------------------------------------------
    def resumable(self, session: SessionId, by: Actor) -> SessionRecord:
        """The record a connect of ``by`` may resume, or BookError."""
        record = self.records.get(session)
        if record is None:
            raise BookError("gone", f"session {format_session_id(session)} is gone")
        if record.principal != by.principal and not by.admin:
            raise BookError("forbidden", f"session {record.label} belongs to {record.owner}")
        if record.state is not SessionState.DETACHED:
            raise BookError("conflict", f"session {record.label} already has a client")
        return record

    def held(
        self, namespace: str, pod: str, *, other_than: SessionId | None, port: Port | None = None
    ) -> list[PortSubscription]:
        return self.ports.held(namespace, pod, other_than=other_than, port=port)

    def handoffs_of(self, session: SessionId) -> list[HandOff]:
        return self.ports.handoffs_of(session)

    def matching(self, key: str | None) -> list[SessionRecord]:
        """Sessions with session key ``key`` (every session when None), oldest first."""
        found = (r for r in self.records.values() if key is None or r.key == key)
        return sorted(found, key=lambda r: r.created)

    # -- decisions -------------------------------------------------------------------
    def handle(self, event: Event) -> list[Effect]:
        """Apply ``event``; the effects to carry out, in order."""
        match event:
            case Begin():
                return self._begin(event)
            case Restore():
                return self._restore(event)
            case Attach():
                return self._attach(event)
            case Linked():
                return self._linked(event)
            case Detach():
                return self._detach(event)
            case SubscribeAsked():
                return self._subscribe(event)
            case UnsubscribeAsked():
                record = self._connected(event.session)
                return (
                    []
                    if record is None
                    else self.ports.unsubscribe(record, event.port, now=event.now)
                )
            case SubscribeAnswered():
                record = self.records.get(event.session)
                return [] if record is None else self.ports.answered(record, event.result)
            case End():
                return self._end(event.session, event.reason, event.message, now=event.now)
            case Kill():
                return self._kill(event)
            case Prune():
                return self._prune(event)
            case Tick():
                return self._tick(event)

    def _begin(self, event: Begin) -> list[Effect]:
        if event.session in self.records:
            raise SessionStateError(f"session {format_session_id(event.session)} exists")
        record = SessionRecord(
            id=event.session,
            owner=event.owner,
            principal=event.principal,
            target=event.target,
            namespace=event.namespace,
            pod=event.pod,
            client_version=event.client_version,
            created=event.now,
            last_seen=event.now,
            key=event.key,
        )
        self.records[record.id] = record
        start = {
            "session": record.label,
            "user": record.owner,
            "target": record.target,
            "namespace": record.namespace,
            "pod": record.pod,
            "key": record.key,
        }
        return [Audit(kind="session_start", fields=start), Persist(session=record.id)]

    def _restore(self, event: Restore) -> list[Effect]:
        effects: list[Effect] = []
        for record in event.records:
            record.state, record.restored, record.connected_once = SessionState.DETACHED, True, True
            self.records[record.id] = record
            fields = {"session": record.label, "user": record.owner}
            effects.append(Audit(kind="session_restored", fields=fields))
        return effects

    def _attach(self, event: Attach) -> list[Effect]:
        record = self.records.get(event.session)
        if record is None:
            raise SessionStateError(f"session {format_session_id(event.session)} has ended")
        record.state = advance(record.state, Move.ATTACH)
        record.connected_once, record.restored = True, False
        record.on_concurrent_steal = event.on_concurrent_steal
        record.last_seen = event.now
        return []

    def _linked(self, event: Linked) -> list[Effect]:
        """What the session holds is asked of its agent again (resumed or restored)."""
        record = self._connected(event.session)
        if record is None:
            return []
        return [
            Subscribe(
                session=record.id,
                port=sub.port,
                mode=sub.mode,
                http_filter=sub.http_filter,
                request=RequestId(0),
            )
            for _, sub in sorted(record.subscriptions.items())
        ]

    def _detach(self, event: Detach) -> list[Effect]:
        closing = self._closing.pop(event.session, None)
        if closing is not None:
            closing.state = advance(closing.state, Move.DETACH)
            return []
        record = self.records.get(event.session)
        if record is None or record.state is SessionState.DETACHED:
            return []
        record.state = advance(record.state, Move.DETACH)
        record.last_seen = event.now
        return self.ports.leave(record, now=event.now)

    def _subscribe(self, event: SubscribeAsked) -> list[Effect]:
        record = self._connected(event.session)
        if record is None:
            return []
        effects, abort = self.ports.subscribe(record, event.frame, now=event.now)
        if abort is not None:
            effects += self._end(record.id, CloseReason.OTHER, abort, now=event.now)
        return effects

    def _end(
        self, session: SessionId, reason: CloseReason, message: str, *, now: float
    ) -> list[Effect]:
        record = self.records.get(session)
        if record is None:
            return []
        effects = self.ports.leave(record, now=now)
        record.state, record.reason = advance(record.state, Move.END), reason
        del self.records[session]
        if record.state is SessionState.CLOSING:
            self._closing[session] = record
        end = {"session": record.label, "user": record.owner, "reason": reason.value}
        return [
            *effects,
            Close(session=session, reason=reason, message=message),
            Audit(kind="session_end", fields={**end, "message": message}),
            Forget(session=session),
        ]

    def _kill(self, event: Kill) -> list[Effect]:
        record = self.records.get(event.session)
        if record is None:
            raise BookError("not_found", f"no session {format_session_id(event.session)}")
        if record.principal != event.by.principal and not event.by.admin:
            raise BookError(
                "forbidden",
                f"session {record.label} belongs to {record.owner}; "
                "only its owner or an admin may kill it",
            )
        kill = {"session": record.label, "user": record.owner, "by": event.by.name}
        return [
            Audit(kind="session_kill", fields=kill),
            *self._end(record.id, CloseReason.KILLED, f"Killed by {event.by.name}", now=event.now),
        ]

    def _prune(self, event: Prune) -> list[Effect]:
        by = event.by
        gone = [
            r
            for r in self.records.values()
            if not r.connected and (by.admin or r.principal == by.principal)
        ]
        message = f"pruned by {by.name}: no client"
        return [
            e for r in gone for e in self._end(r.id, CloseReason.UNUSED, message, now=event.now)
        ]

    def _tick(self, event: Tick) -> list[Effect]:
        now, effects = event.now, list[Effect]()
        for record in list(self.records.values()):
            if record.connected:
                record.last_seen = now
            activity = Activity(
                created=record.created,
                connected_once=record.connected_once,
                connected_now=record.connected,
                last_seen=record.last_seen,
            )
            verdict = expired(activity, self.limits, now=now)
            if verdict is not None:
                reason, message = verdict
                if reason == CloseReason.UNUSED and record.restored:
                    reason = CloseReason.STATE_LOST
                    message = "the operator restarted and the client did not come back"
                effects += self._end(record.id, reason, message, now=now)
        return effects + self.ports.due(now)

    def _connected(self, session: SessionId) -> SessionRecord | None:
        record = self.records.get(session)
        return record if record is not None and record.connected else None
