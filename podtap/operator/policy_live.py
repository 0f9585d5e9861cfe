"""A subscribe a policy refuses is answered here, before the session book sees it (a
refusal is a refusal: nothing is widened). Policies are live: on every change, each
connected session's subscriptions are checked again, and one that now breaks a policy is
dropped (released at the agent, audited) with its client told why in one line
(``PolicyChanged: ...``) and sent an ``Unsubscribe``, as an evicted holder is. New
subscribes follow the new rules without this: each is checked on the snapshot of its
moment."""

from __future__ import annotations

import logging
import time
from typing import Protocol

from podtap.core.ids import SessionId, format_session_id
from podtap.core.protocol import Log, LogLevel, SubscribeResult, Unsubscribe
from podtap.core.sessions import (
    Effect,
    Event,
    SessionRecord,
    Subscribe,
    SubscribeAnswered,
    SubscribeAsked,
    UnsubscribeAsked,
)
from podtap.operator.audit import AuditLog
from podtap.operator.metrics import Metrics
from podtap.operator.policies import SessionPolicies
from podtap.operator.relay import Attachment

__all__ = ["enforce_changes", "recheck", "refuse_grant", "refuse_subscribe"]

log = logging.getLogger(__name__)


class Enforcing(Protocol):
    """What this needs of the service."""

    policies: SessionPolicies
    attached: dict[SessionId, Attachment]
    audit: AuditLog
    metrics: Metrics

    @property
    def records(self) -> dict[SessionId, SessionRecord]: ...

    async def handle(self, event: Event) -> list[Effect]: ...


async def enforce_changes(service: Enforcing) -> None:
    """Until cancelled: :func:`recheck` after every change of the policies."""
    version = service.policies.source.snapshot().version
    while True:
        try:
            version = (await service.policies.source.changed(since=version)).version
        except Exception:
            log.exception("policies: no more changes are seen; the last ones stay in force")
            return
        await recheck(service)


async def recheck(service: Enforcing) -> None:
    """Drop every subscription of a connected session that the policies now refuse."""
    for session, attachment in list(service.attached.items()):
        record = service.records.get(session)
        if record is None:
            continue
        for port, sub in sorted(record.subscriptions.items()):
            refusal = service.policies.subscribe_refusal(
                session, mode=sub.mode, http_filter=sub.http_filter
            )
            if refusal is None:
                continue
            await service.handle(UnsubscribeAsked(session=session, port=port, now=time.time()))
            text = f"PolicyChanged: {refusal}; port {port} is dropped from this session"
            service.audit.event(
                "policy_changed",
                session=format_session_id(session),
                user=record.owner,
                port=port,
                mode=sub.mode.value,
                reason=refusal,
            )
            attachment.tell(Log(level=LogLevel.WARNING, message=text))
            attachment.tell(Unsubscribe(port=port))


def refuse_subscribe(service: Enforcing, event: SubscribeAsked) -> bool:
    """Whether a policy refuses ``event``'s subscribe; if so its client is answered not ok
    with the refusal's one line, and it is audited."""
    frame = event.frame
    refusal = service.policies.subscribe_refusal(
        event.session, mode=frame.mode, http_filter=frame.http_filter
    )
    if refusal is None:
        return False
    if (attachment := service.attached.get(event.session)) is not None:
        attachment.tell(SubscribeResult(request=frame.request, ok=False, error=refusal))
    record = service.records.get(event.session)
    service.metrics.refusals.inc()
    service.audit.event(
        "refusal",
        session=format_session_id(event.session),
        user=record.owner if record is not None else None,
        port=frame.port,
        mode=frame.mode.value,
        reason=refusal,
    )
    return True


async def refuse_grant(service: Enforcing, effect: Subscribe) -> bool:
    """Whether the book's grant ``effect`` (a port handed over after its grace, say) is one
    the policies refuse now: then the agent is not asked, the book and the client are
    answered as the agent would have refused it, and it is audited."""
    refusal = service.policies.subscribe_refusal(
        effect.session, mode=effect.mode, http_filter=effect.http_filter
    )
    print("GRANT", effect, refusal, len(service.policies.source.snapshot().policies), flush=True)
    if refusal is None:
        return False
    result = SubscribeResult(request=effect.request, ok=False, error=refusal)
    await service.handle(SubscribeAnswered(session=effect.session, result=result))
    if (attachment := service.attached.get(effect.session)) is not None:
        attachment.tell(result)
    service.audit.event(
        "refusal", session=format_session_id(effect.session), port=effect.port, reason=refusal
    )
    return True
