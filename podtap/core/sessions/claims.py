"""Who holds which port of a pod, and how a port changes hands (pure; part of the book).

Every decision returns the effects that carry it out, in order. Arbitration itself is
:func:`podtap.core.arbitration.decide`; this module applies its verdict to the records,
and runs the hand-offs that ``override`` starts (:mod:`podtap.core.sessions.handoff`)."""

from __future__ import annotations

from collections.abc import Mapping

from podtap.core.arbitration import (
    Allow,
    Override,
    PortSubscription,
    Refuse,
    abort_message,
    decide,
    eviction_notice,
)
from podtap.core.ids import Port, RequestId, SessionId, format_session_id
from podtap.core.protocol import Log, LogLevel, SubscribeResult, Unsubscribe
from podtap.core.protocol import Subscribe as SubscribeFrame
from podtap.core.sessions.effects import Audit, Effect, Persist, Release, Subscribe, Tell, Wake
from podtap.core.sessions.handoff import HandOff, cancelled_notice, handoff_notice, waiting_notice
from podtap.core.sessions.records import SessionRecord, SubscriptionRecord

__all__ = ["PortClaims"]


class PortClaims:
    """The ports the live sessions of ``records`` hold, and the hand-offs under way."""

    def __init__(self, records: Mapping[SessionId, SessionRecord], *, grace: float) -> None:
        self._records = records
        self.grace = grace
        self.handoffs: dict[tuple[SessionId, Port], HandOff] = {}

    # -- queries ---------------------------------------------------------------------
    def held(
        self, namespace: str, pod: str, *, other_than: SessionId | None, port: Port | None = None
    ) -> list[PortSubscription]:
        """The claims on the pod's ports (of ``port``, or all) as arbitration sees them:
        what its sessions but ``other_than`` hold, and what hand-offs will give them."""
        pod_records = [
            r
            for r in self._records.values()
            if r.namespace == namespace and r.pod == pod and r.id != other_than
        ]
        held = [
            PortSubscription(
                session=r.id,
                user=r.owner,
                since=s.since,
                mode=s.mode,
                http_filter=s.http_filter,
                port=s.port,
            )
            for r in pod_records
            for s in r.subscriptions.values()
            if port is None or s.port == port
        ]
        ids = {r.id for r in pod_records}
        return held + [
            h.taker
            for h in self.handoffs.values()
            if h.taker.session in ids and (port is None or h.port == port)
        ]

    def handoffs_of(self, session: SessionId) -> list[HandOff]:
        """The hand-offs ``session`` takes part in, as taker or holder."""
        return [
            h for h in self.handoffs.values() if session in h.holders or h.taker.session == session
        ]

    # -- decisions -------------------------------------------------------------------
    def subscribe(
        self, record: SessionRecord, frame: SubscribeFrame, *, now: float
    ) -> tuple[list[Effect], str | None]:
        """The client of ``record`` asks for a port: the effects, and the message to end
        the session with if it must end (``abort``)."""
        effects = self._withdraw(record, frame.port, "replaced by a new subscribe of the port")
        wanted = PortSubscription(
            session=record.id,
            user=record.owner,
            since=now,
            mode=frame.mode,
            http_filter=frame.http_filter,
            port=frame.port,
        )
        existing = self.held(record.namespace, record.pod, other_than=record.id, port=frame.port)
        decision = decide(existing, wanted, on_concurrent_steal=record.on_concurrent_steal, now=now)
        if isinstance(decision, Allow):
            return effects + self._grant(record, wanted, frame.request), None
        if isinstance(decision, Override):
            return effects + self._take_over(record, wanted, frame.request, decision, now), None
        effects += [
            Audit(kind="refusal", fields=_fields(record, wanted, reason=decision.message)),
            Tell(
                session=record.id,
                payload=SubscribeResult(request=frame.request, ok=False, error=decision.message),
            ),
        ]
        if isinstance(decision, Refuse):
            return effects, abort_message(decision.message)
        return effects, None

    def unsubscribe(self, record: SessionRecord, port: Port, *, now: float) -> list[Effect]:
        """The client lets ``port`` go: a hand-off waiting on it completes."""
        effects = self._withdraw(record, port, "unsubscribed before the port was handed over")
        if record.subscriptions.pop(port, None) is not None:
            effects += [
                Persist(session=record.id),
                Audit(
                    kind="unsubscribe",
                    fields={"session": record.label, "user": record.owner, "port": port},
                ),
            ]
        effects.append(Release(session=record.id, port=port))
        return effects + self._holder_gone(record, port, now=now)

    def answered(self, record: SessionRecord, result: SubscribeResult) -> list[Effect]:
        """The agent answered a subscribe: a refused one is not held."""
        port = record.pending.pop(result.request, None)
        if port is None or result.ok or record.subscriptions.pop(port, None) is None:
            return []
        return [Persist(session=record.id)]

    def leave(self, record: SessionRecord, *, now: float) -> list[Effect]:
        """``record``'s client is gone (or its session ended): what it was to take stays
        with the holders; what it was handing over moves at once."""
        effects: list[Effect] = []
        for port in sorted(
            {h.port for h in self.handoffs.values() if h.taker.session == record.id}
        ):
            effects += self._withdraw(record, port, "the session left before the port moved")
        for port in sorted({h.port for h in self.handoffs_of(record.id)}):
            effects += self._holder_gone(record, port, now=now)
        return effects

    def due(self, now: float) -> list[Effect]:
        """Hand-offs whose grace is over: the ports move."""
        effects: list[Effect] = []
        for key, handoff in sorted(self.handoffs.items()):
            if handoff.due <= now and self.handoffs.get(key) is handoff:
                del self.handoffs[key]
                effects += self._move(handoff, now=now)
        return effects

    # -- carrying them out -----------------------------------------------------------
    def _grant(
        self, record: SessionRecord, wanted: PortSubscription, request: RequestId
    ) -> list[Effect]:
        port = Port(wanted.port or 0)
        record.subscriptions[port] = SubscriptionRecord(
            port, wanted.mode, wanted.http_filter, wanted.since
        )
        if request:
            record.pending[request] = port
        return [
            Persist(session=record.id),
            Audit(kind="subscribe", fields=_fields(record, wanted)),
            Subscribe(
                session=record.id,
                port=port,
                mode=wanted.mode,
                http_filter=wanted.http_filter,
                request=request,
            ),
        ]

    def _take_over(
        self,
        record: SessionRecord,
        wanted: PortSubscription,
        request: RequestId,
        decision: Override,
        now: float,
    ) -> list[Effect]:
        effects: list[Effect] = []
        port = Port(wanted.port or 0)
        holders: set[SessionId] = set()
        for held in decision.evict:
            pending = self.handoffs.get((held.session, port))
            if pending is not None and pending.taker == held:  # it only waited for the port
                effects += self._withdraw(
                    self._records[held.session],
                    port,
                    f"port {port} was claimed by {wanted.user} (session "
                    f"{format_session_id(wanted.session)}, on_concurrent_steal=override) "
                    "before it was handed over",
                )
            else:
                holders.add(held.session)
        handoff = HandOff(
            taker=wanted, request=request, holders=frozenset(holders), due=now + self.grace
        )
        for holder in sorted(holders):
            effects.append(Audit(kind="handoff", fields=self._handoff_fields(holder, handoff)))
        for holder in sorted(holders):
            if not self._records[holder].connected:  # gone: nobody to wait for
                handoff = handoff.without(holder)
                effects += self._evict(self._records[holder], port, by=wanted)
        if not handoff.holders or self.grace <= 0:
            return effects + self._move(handoff, now=now)
        self.handoffs[record.id, port] = handoff
        notice = handoff_notice(handoff, now=now)
        effects += [
            Tell(session=holder, payload=Log(level=LogLevel.WARNING, message=notice))
            for holder in sorted(handoff.holders)
        ]
        names = ", and ".join(
            f"{self._records[h].owner} (session {format_session_id(h)})"
            for h in sorted(handoff.holders)
        )
        waiting = waiting_notice(handoff, names, now=now)
        return [
            *effects,
            Tell(session=record.id, payload=Log(level=LogLevel.INFO, message=waiting)),
            Wake(at=handoff.due),
        ]

    def _move(self, handoff: HandOff, *, now: float) -> list[Effect]:
        """The port leaves the holders left and goes to the taker."""
        effects: list[Effect] = []
        for holder in sorted(handoff.holders):
            if holder in self._records:
                effects += self._evict(self._records[holder], handoff.port, by=handoff.taker)
        taker = self._records[handoff.taker.session]
        wanted = PortSubscription(
            session=taker.id,
            user=taker.owner,
            since=now,
            mode=handoff.taker.mode,
            http_filter=handoff.taker.http_filter,
            port=handoff.port,
        )
        return effects + self._grant(taker, wanted, handoff.request)

    def _evict(self, holder: SessionRecord, port: Port, *, by: PortSubscription) -> list[Effect]:
        if holder.subscriptions.pop(port, None) is None:
            return []
        notice = f"{eviction_notice(by)}; this session no longer gets its traffic"
        return [
            Persist(session=holder.id),
            Audit(
                kind="evicted",
                fields={
                    "session": holder.label,
                    "user": holder.owner,
                    "port": port,
                    "by": by.user,
                    "by_session": format_session_id(by.session),
                },
            ),
            Release(session=holder.id, port=port),
            Tell(session=holder.id, payload=Log(level=LogLevel.WARNING, message=notice)),
            Tell(session=holder.id, payload=Unsubscribe(port=port)),
        ]

    def _holder_gone(self, holder: SessionRecord, port: Port, *, now: float) -> list[Effect]:
        """``holder`` let ``port`` go (or left): hand-offs of it wait for one holder less."""
        effects: list[Effect] = []
        for key, handoff in sorted(self.handoffs.items()):
            if handoff.port != port or holder.id not in handoff.holders:
                continue
            effects += self._evict(holder, port, by=handoff.taker)
            rest = handoff.without(holder.id)
            if rest.holders:
                self.handoffs[key] = rest
            else:
                del self.handoffs[key]
                effects += self._move(rest, now=now)
        return effects

    def _withdraw(self, taker: SessionRecord, port: Port, why: str) -> list[Effect]:
        """``taker`` no longer waits for ``port``: its subscribe is refused (``why``) and
        the holders keep the port."""
        handoff = self.handoffs.pop((taker.id, port), None)
        if handoff is None:
            return []
        notice = cancelled_notice(handoff)
        return [
            Audit(
                kind="handoff_cancelled",
                fields={
                    "session": taker.label,
                    "user": taker.owner,
                    "port": port,
                    "from_sessions": [format_session_id(h) for h in sorted(handoff.holders)],
                    "reason": why,
                },
            ),
            Tell(
                session=taker.id,
                payload=SubscribeResult(request=handoff.request, ok=False, error=why),
            ),
            *(
                Tell(session=h, payload=Log(level=LogLevel.INFO, message=notice))
                for h in sorted(handoff.holders)
            ),
        ]

    def _handoff_fields(self, holder: SessionId, handoff: HandOff) -> dict[str, object]:
        record = self._records[holder]
        return {
            "session": record.label,
            "user": record.owner,
            "port": handoff.port,
            "to": handoff.taker.user,
            "to_session": format_session_id(handoff.taker.session),
            "grace": self.grace,
        }


def _fields(record: SessionRecord, wanted: PortSubscription, **more: object) -> dict[str, object]:
    flt = wanted.http_filter
    return {
        "session": record.label,
        "user": record.owner,
        "port": wanted.port,
        "mode": wanted.mode.value,
        "filter": flt.describe() if flt is not None else None,
        **more,
    }
