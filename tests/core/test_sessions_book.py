"""The session book as transcripts: events in, effects out, no sockets, no clock, no root.

Alice and Bob work on the same pod; each step is what the operator's shells report and
exactly what the book decides must be done about it."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import pytest

from podtap.core.arbitration import OnConcurrentSteal
from podtap.core.ids import Port, RequestId, SessionId, format_session_id
from podtap.core.lifecycle import Limits
from podtap.core.protocol import (
    CloseReason,
    HttpFilter,
    IncomingMode,
    Log,
    LogLevel,
    SubscribeResult,
    Unsubscribe,
)
from podtap.core.protocol import Subscribe as SubscribeFrame
from podtap.core.sessions import (
    Actor,
    Attach,
    Audit,
    Begin,
    BookError,
    Close,
    Detach,
    Effect,
    End,
    Forget,
    Kill,
    Linked,
    Persist,
    Prune,
    Release,
    Restore,
    SessionBook,
    SessionRecord,
    SessionState,
    SessionStateError,
    Subscribe,
    SubscribeAnswered,
    SubscribeAsked,
    SubscriptionRecord,
    Tell,
    Tick,
    UnsubscribeAsked,
    Wake,
    unix_principal,
)
from podtap.testing import IGNORE, Raises, play

ALICE, BOB, CAROL = SessionId(0xA), SessionId(0xB), SessionId(0xC)
USERS = {ALICE: "alice/alice@laptop", BOB: "bob/bob@desk", CAROL: "carol/carol@home"}
UIDS = {ALICE: unix_principal(1000), BOB: unix_principal(1001), CAROL: unix_principal(1002)}
PORT = Port(8080)
STEAL, MIRROR = IncomingMode.STEAL, IncomingMode.MIRROR
ABORT, CONTINUE, OVERRIDE = (
    OnConcurrentSteal.ABORT,
    OnConcurrentSteal.CONTINUE,
    OnConcurrentSteal.OVERRIDE,
)
T0 = 1_000_000.0


def label(session: SessionId) -> str:
    return format_session_id(session)


def begin(session: SessionId, now: float = T0) -> Begin:
    return Begin(
        session=session,
        owner=USERS[session],
        principal=UIDS[session],
        target="deployment/shop",
        namespace="default",
        pod="shop-1",
        client_version="test",
        now=now,
    )


def started(session: SessionId, now: float = T0) -> list[Effect]:
    fields = {
        "session": label(session),
        "user": USERS[session],
        "target": "deployment/shop",
        "namespace": "default",
        "pod": "shop-1",
        "key": None,
    }
    return [Audit(kind="session_start", fields=fields), Persist(session=session)]


def attach(session: SessionId, how: OnConcurrentSteal = ABORT, now: float = T0) -> Attach:
    return Attach(session=session, on_concurrent_steal=how, now=now)


def ask(
    session: SessionId,
    flt: HttpFilter | None = None,
    *,
    mode: IncomingMode = STEAL,
    request: int = 1,
    now: float = T0,
) -> SubscribeAsked:
    frame = SubscribeFrame(request=RequestId(request), port=PORT, mode=mode, http_filter=flt)
    return SubscribeAsked(session=session, frame=frame, now=now)


def granted(
    session: SessionId,
    flt: HttpFilter | None = None,
    *,
    mode: IncomingMode = STEAL,
    request: int = 1,
) -> list[Effect]:
    fields = {
        "session": label(session),
        "user": USERS[session],
        "port": PORT,
        "mode": mode.value,
        "filter": flt.describe() if flt else None,
    }
    return [
        Persist(session=session),
        Audit(kind="subscribe", fields=fields),
        Subscribe(
            session=session, port=PORT, mode=mode, http_filter=flt, request=RequestId(request)
        ),
    ]


def evicted(holder: SessionId, by: SessionId) -> list[Effect]:
    fields = {
        "session": label(holder),
        "user": USERS[holder],
        "port": PORT,
        "by": USERS[by],
        "by_session": label(by),
    }
    notice = (
        f"port {PORT} was taken over by {USERS[by]} (session {label(by)}) without a filter "
        "(on_concurrent_steal=override); this session no longer gets its traffic"
    )
    return [
        Persist(session=holder),
        Audit(kind="evicted", fields=fields),
        Release(session=holder, port=PORT),
        Tell(session=holder, payload=Log(level=LogLevel.WARNING, message=notice)),
        Tell(session=holder, payload=Unsubscribe(port=PORT)),
    ]


def handoff_audit(holder: SessionId, taker: SessionId, grace: float) -> Audit:
    fields = {
        "session": label(holder),
        "user": USERS[holder],
        "port": PORT,
        "to": USERS[taker],
        "to_session": label(taker),
        "grace": grace,
    }
    return Audit(kind="handoff", fields=fields)


def ended(session: SessionId, reason: CloseReason, message: str) -> list[Effect]:
    fields = {
        "session": label(session),
        "user": USERS[session],
        "reason": reason.value,
        "message": message,
    }
    return [
        Close(session=session, reason=reason, message=message),
        Audit(kind="session_end", fields=fields),
        Forget(session=session),
    ]


def ports(book: SessionBook, session: SessionId) -> list[int]:
    return sorted(book.records[session].subscriptions)


def told(effects: Sequence[Effect], session: SessionId) -> list[Any]:
    return [e.payload for e in effects if isinstance(e, Tell) and e.session == session]


def two_developers(grace: float = 2.0) -> SessionBook:
    """Alice holds the whole port; Bob is attached, asking nothing yet."""
    book = SessionBook(grace=grace)
    play(
        book.handle,
        [
            (begin(ALICE), IGNORE),
            (attach(ALICE), []),
            (ask(ALICE), IGNORE),
            (begin(BOB), IGNORE),
        ],
    )
    return book


def test_two_developers_share_a_port_with_filters_and_a_mirror() -> None:
    book = SessionBook()
    mine, theirs = HttpFilter(header="^x-user: alice$"), HttpFilter(header="^x-user: bob$")
    play(
        book.handle,
        [
            (begin(ALICE), started(ALICE)),
            (begin(BOB), started(BOB)),
            (begin(CAROL), started(CAROL)),
            (attach(ALICE), []),
            (attach(BOB), []),
            (attach(CAROL), []),
            (ask(ALICE, mine), granted(ALICE, mine)),
            (ask(BOB, theirs), granted(BOB, theirs)),
            (ask(CAROL, mode=MIRROR), granted(CAROL, mode=MIRROR)),
        ],
    )
    assert book.records[ALICE].state is SessionState.ATTACHED
    assert book.records[ALICE].ports_text() == "8080 steal header=^x-user: alice$"
    assert [h.session for h in book.held("default", "shop-1", other_than=CAROL)] == [ALICE, BOB]


def test_a_conflict_refuses_naming_the_holder_and_abort_ends_the_session() -> None:
    book = two_developers()
    _, refused = play(book.handle, [(attach(BOB), []), (ask(BOB, now=T0 + 303), IGNORE)])
    (result,) = told(refused, BOB)
    assert isinstance(result, SubscribeResult) and not result.ok and result.error
    assert f"{USERS[ALICE]} (session {label(ALICE)}, since 5m03s)" in result.error
    assert "use mode mirror, or on_concurrent_steal=override" in result.error
    close = next(e for e in refused if isinstance(e, Close))
    assert close.session == BOB and close.message.startswith("aborted (on_concurrent_steal=abort)")
    assert [e.kind for e in refused if isinstance(e, Audit)] == ["refusal", "session_end"]
    assert BOB not in book.records and ports(book, ALICE) == [PORT]


def test_continue_runs_without_the_port() -> None:
    book = two_developers()
    _, refused = play(book.handle, [(attach(BOB, CONTINUE), []), (ask(BOB), IGNORE)])
    assert not any(isinstance(e, Close) for e in refused)
    (result,) = told(refused, BOB)
    assert isinstance(result, SubscribeResult) and "continuing without port 8080" in str(result)
    assert ports(book, BOB) == [] and ports(book, ALICE) == [PORT]


def test_an_override_tells_the_holder_at_once_and_moves_the_port_after_the_grace() -> None:
    book = two_developers(grace=2.0)
    waiting = (
        f"port 8080 is held by {USERS[ALICE]} (session {label(ALICE)}); it is handed over to "
        "this session in 2.0 s (on_concurrent_steal=override)"
    )
    notice = (
        f"port 8080 will be taken over by {USERS[BOB]} (session {label(BOB)}) without a filter "
        "in 2.0 s (on_concurrent_steal=override); unsubscribe the port to hand it over now"
    )
    play(
        book.handle,
        [
            (attach(BOB, OVERRIDE), []),
            (
                ask(BOB, request=7),
                [
                    handoff_audit(ALICE, BOB, 2.0),
                    Tell(session=ALICE, payload=Log(level=LogLevel.WARNING, message=notice)),
                    Tell(session=BOB, payload=Log(level=LogLevel.INFO, message=waiting)),
                    Wake(at=T0 + 2.0),
                ],
            ),
            (Tick(now=T0 + 1.0), []),  # alice still holds it, and says so
        ],
    )
    assert ports(book, ALICE) == [PORT] and ports(book, BOB) == []
    (handoff,) = book.handoffs_of(ALICE)
    assert book.handoffs_of(BOB) == [handoff] and handoff.holders == {ALICE}
    (moved,) = play(book.handle, [(Tick(now=T0 + 2.0), IGNORE)])
    assert moved == evicted(ALICE, BOB) + granted(BOB, request=7)
    assert ports(book, ALICE) == [] and ports(book, BOB) == [PORT]
    assert book.handoffs_of(ALICE) == []


def test_the_port_moves_at_once_when_the_holder_agrees() -> None:
    book = two_developers(grace=30.0)
    play(book.handle, [(attach(BOB, OVERRIDE), []), (ask(BOB, request=7), IGNORE)])
    let_go = UnsubscribeAsked(session=ALICE, port=PORT, now=T0 + 1)
    unsubscribed = {"session": label(ALICE), "user": USERS[ALICE], "port": PORT}
    play(
        book.handle,
        [
            (
                let_go,
                [
                    Persist(session=ALICE),
                    Audit(kind="unsubscribe", fields=unsubscribed),
                    Release(session=ALICE, port=PORT),
                    *granted(BOB, request=7),
                ],
            ),
            (Tick(now=T0 + 30), []),  # nothing left to move
        ],
    )
    assert ports(book, BOB) == [PORT]


@pytest.mark.parametrize("gone", ["detached", "killed"])
def test_the_port_moves_at_once_when_the_holder_is_gone(gone: str) -> None:
    book = two_developers(grace=30.0)
    play(book.handle, [(attach(BOB, OVERRIDE), []), (ask(BOB, request=7), IGNORE)])
    if gone == "detached":
        event: Detach | Kill = Detach(session=ALICE, now=T0 + 1)
    else:
        event = Kill(
            session=ALICE,
            by=Actor(name="root", principal=unix_principal(0), admin=True),
            now=T0 + 1,
        )
    (effects,) = play(book.handle, [(event, IGNORE)])
    if gone == "killed":
        assert isinstance(effects[0], Audit) and effects.pop(0).kind == "session_kill"
    moved = evicted(ALICE, BOB) + granted(BOB, request=7)
    assert effects[: len(moved)] == moved
    assert ports(book, BOB) == [PORT]


def test_a_holder_already_gone_loses_the_port_without_a_grace() -> None:
    book = two_developers(grace=30.0)
    steps = [(Detach(session=ALICE, now=T0), []), (attach(BOB, OVERRIDE), []), (ask(BOB), IGNORE)]
    effects = play(book.handle, steps)[-1]
    assert effects == [handoff_audit(ALICE, BOB, 30.0), *evicted(ALICE, BOB), *granted(BOB)]


def test_a_taker_that_leaves_first_moves_nothing() -> None:
    book = two_developers(grace=30.0)
    play(book.handle, [(attach(BOB, OVERRIDE), []), (ask(BOB, request=7), IGNORE)])
    (effects,) = play(book.handle, [(Detach(session=BOB, now=T0 + 1), IGNORE)])
    assert [e.kind for e in effects if isinstance(e, Audit)] == ["handoff_cancelled"]
    stays = (
        f"{USERS[BOB]} (session {label(BOB)}) no longer takes port 8080: it stays with this session"
    )
    assert told(effects, ALICE) == [Log(level=LogLevel.INFO, message=stays)]
    assert ports(book, ALICE) == [PORT] and book.handoffs_of(ALICE) == []
    play(book.handle, [(Tick(now=T0 + 10), [])])


def test_grace_zero_overrides_at_once() -> None:
    book = two_developers(grace=0.0)
    (effects,) = play(book.handle, [(attach(BOB, OVERRIDE), []), (ask(BOB), IGNORE)])[1:]
    assert effects == [handoff_audit(ALICE, BOB, 0.0), *evicted(ALICE, BOB), *granted(BOB)]


def test_a_refused_subscribe_at_the_agent_is_not_held() -> None:
    book = two_developers()
    answer = SubscribeAnswered(
        session=ALICE, result=SubscribeResult(request=RequestId(1), ok=False, error="no")
    )
    play(book.handle, [(answer, [Persist(session=ALICE)]), (answer, [])])
    assert ports(book, ALICE) == []


def test_a_kill_needs_rights_and_tells_the_client() -> None:
    book = two_developers()
    bob = Actor(name="bob", principal=UIDS[BOB])
    play(
        book.handle,
        [
            (Kill(session=ALICE, by=bob, now=T0), Raises(BookError, match="only its owner")),
            (Kill(session=CAROL, by=bob, now=T0), Raises(BookError, match="no session")),
            (
                Kill(session=ALICE, by=Actor(name="alice", principal=UIDS[ALICE]), now=T0),
                [
                    Audit(
                        kind="session_kill",
                        fields={"session": label(ALICE), "user": USERS[ALICE], "by": "alice"},
                    ),
                    *ended(ALICE, CloseReason.KILLED, "Killed by alice"),
                ],
            ),
            (Detach(session=ALICE, now=T0), []),  # its client let go: closed
            (attach(ALICE), Raises(SessionStateError, match="has ended")),
        ],
    )
    assert ALICE not in book.records
    assert book.held("default", "shop-1", other_than=None) == []


def test_a_client_gone_past_the_ttl_ends_its_session_and_its_claim() -> None:
    book = SessionBook(limits=Limits(unused_ttl=30))
    play(
        book.handle,
        [
            (begin(ALICE), IGNORE),
            (attach(ALICE), []),
            (ask(ALICE), IGNORE),
            (Tick(now=T0 + 100), []),  # attached: seen at every tick
            (Detach(session=ALICE, now=T0 + 101), []),
            (Tick(now=T0 + 130), []),
            (
                Tick(now=T0 + 131),
                ended(ALICE, CloseReason.UNUSED, "the client was gone for 30 s"),
            ),
        ],
    )
    assert book.records == {}


def test_a_client_that_never_comes_misses_the_setup_deadline() -> None:
    book = SessionBook(limits=Limits(setup_deadline=60))
    message = "no client connected within 60 s"
    play(
        book.handle,
        [
            (begin(ALICE), IGNORE),
            (Tick(now=T0 + 59), []),
            (Tick(now=T0 + 60), ended(ALICE, CloseReason.SETUP_DEADLINE_EXCEEDED, message)),
        ],
    )


def restored_record() -> SessionRecord:
    record = SessionRecord(
        id=ALICE,
        owner=USERS[ALICE],
        principal=UIDS[ALICE],
        target="deployment/shop",
        namespace="default",
        pod="shop-1",
        client_version="test",
        created=T0,
        last_seen=T0 + 10,
    )
    record.subscriptions[PORT] = SubscriptionRecord(PORT, STEAL, None, T0)
    return record


def test_a_restart_restores_records_their_claims_and_resumes() -> None:
    book = SessionBook(limits=Limits(unused_ttl=30))
    restored = Audit(
        kind="session_restored", fields={"session": label(ALICE), "user": USERS[ALICE]}
    )
    play(
        book.handle,
        [
            (Restore(records=(restored_record(),)), [restored]),
            (begin(BOB), IGNORE),
            (attach(BOB), []),
            (ask(BOB), IGNORE),  # alice's restored claim still holds the port
        ],
    )
    assert BOB not in book.records  # aborted
    assert book.resumable(ALICE, Actor(name="alice", principal=UIDS[ALICE])).restored
    with pytest.raises(BookError, match="belongs to"):
        book.resumable(ALICE, Actor(name="bob", principal=UIDS[BOB]))
    reapplied = Subscribe(session=ALICE, port=PORT, mode=STEAL, http_filter=None)
    play(
        book.handle,
        [
            (attach(ALICE, now=T0 + 20), []),
            (Linked(session=ALICE), [reapplied]),
            (Tick(now=T0 + 200), []),
        ],
    )
    assert book.records[ALICE].state is SessionState.RESUMED
    with pytest.raises(BookError, match="already has a client"):
        book.resumable(ALICE, Actor(name="alice", principal=UIDS[ALICE]))


def test_a_restored_session_whose_client_never_returns_is_state_lost() -> None:
    book = SessionBook(limits=Limits(unused_ttl=30))
    message = "the operator restarted and the client did not come back"
    play(
        book.handle,
        [
            (Restore(records=(restored_record(),)), IGNORE),
            (Tick(now=T0 + 40), ended(ALICE, CloseReason.STATE_LOST, message)),
        ],
    )


def test_prune_ends_only_the_callers_sessions_without_a_client() -> None:
    book = two_developers()
    play(book.handle, [(begin(CAROL), IGNORE)])
    message = "pruned by bob: no client"
    play(
        book.handle,
        [
            (
                Prune(by=Actor(name="bob", principal=UIDS[BOB]), now=T0),
                ended(BOB, CloseReason.UNUSED, message),
            ),
            (End(session=BOB, reason=CloseReason.KILLED, message="again", now=T0), []),
        ],
    )
    assert sorted(book.records) == [ALICE, CAROL]
