"""The operator's sessions, sans-IO: records, their state machine, and every decision on
them as events in, effects out (:class:`SessionBook`)."""

from podtap.core.sessions.book import DEFAULT_GRACE, BookError, SessionBook
from podtap.core.sessions.effects import (
    Audit,
    Close,
    Effect,
    Forget,
    Persist,
    Release,
    Subscribe,
    Tell,
    Wake,
)
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
    SessionRecord,
    SessionState,
    SessionStateError,
    SubscriptionRecord,
)

__all__ = [
    "DEFAULT_GRACE",
    "Actor",
    "Attach",
    "Audit",
    "Begin",
    "BookError",
    "Close",
    "Detach",
    "Effect",
    "End",
    "Event",
    "Forget",
    "HandOff",
    "Kill",
    "Linked",
    "Persist",
    "Prune",
    "Release",
    "Restore",
    "SessionBook",
    "SessionRecord",
    "SessionState",
    "SessionStateError",
    "Subscribe",
    "SubscribeAnswered",
    "SubscribeAsked",
    "SubscriptionRecord",
    "Tell",
    "Tick",
    "UnsubscribeAsked",
    "Wake",
]
