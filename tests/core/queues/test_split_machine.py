"""The split's lifecycle as transcripts: what the operator's shells report, and exactly
what the split decides must be done; every path ends with no message lost and no queue
left (checked against the model in split_world.py)."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from podtap.core.ids import SessionId
from podtap.core.queues import FALLBACK_ID, Limits, Phase, SplitMachine, render_queue_name
from podtap.core.queues import steps as s
from podtap.core.queues.models import QueueKind
from podtap.testing import IGNORE, play
from tests.core.queues.split_world import World, wanting

ALICE, BOB, CAROL = SessionId(0xA), SessionId(0xB), SessionId(0xC)
FILTERS = {ALICE: wanting("^alice$"), BOB: wanting("^(alice|bob)$"), CAROL: wanting("^carol$")}

TEMPLATE = "tmp-{{ID}}-{{ORIGINAL}}"


def name(original: str, owner: str) -> str:
    return render_queue_name(TEMPLATE, kind=QueueKind.SQS, original=original, session=owner)


def machine(**limits: float | bool) -> SplitMachine:
    return SplitMachine(originals=["orders"], name=name, limits=Limits(**limits))  # type: ignore[arg-type]


FALLBACK = f"tmp-{FALLBACK_ID}-orders"
A, B = "tmp-000000000000000A-orders", "tmp-000000000000000B-orders"
ALICE_SPLITTING = [  # Alice's split is up: her queue given, the forwarder routing to it
    (s.SessionJoined(ALICE), IGNORE),
    (s.QueuesCreated((FALLBACK, A)), IGNORE),
    (s.PodsReady(), IGNORE),
]


def test_first_session_creates_patches_waits_then_forwards() -> None:
    split = machine(restart_timeout=60)
    play(
        split.handle,
        [
            (s.SessionJoined(ALICE), [s.CreateQueues((FALLBACK,)), s.CreateQueues((A,))]),
            (s.QueuesCreated((A,)), []),  # the workload's queue first: nothing to patch yet
            (s.QueuesCreated((FALLBACK,)), [s.PatchEnv({"orders": FALLBACK}), s.WaitForPods(60)]),
            (s.PodsReady(), [s.GiveQueues(ALICE, {"orders": A}), s.SetRoutes((ALICE,))]),
        ],
    )
    assert split.phase is Phase.ACTIVE


def test_a_later_session_only_adds_its_queue_and_route() -> None:
    split = machine()
    play(
        split.handle,
        [
            *ALICE_SPLITTING,
            (s.SessionJoined(BOB), [s.CreateQueues((B,))]),
            (s.QueuesCreated((B,)), [s.GiveQueues(BOB, {"orders": B}), s.SetRoutes((ALICE, BOB))]),
            (s.SessionLeft(ALICE), [s.SetRoutes((BOB,)), s.Drain(A, "orders")]),
            (s.Drained(A, remaining=2), [s.Drain(A, "orders")]),  # not empty yet: again
            (s.Drained(A), [s.DeleteQueues((A,))]),
            (s.QueuesDeleted((A,)), []),
        ],
    )
    assert split.phase is Phase.ACTIVE and list(split.sessions) == [BOB]


def test_the_last_session_restores_stops_drains_then_deletes() -> None:
    split = machine(restart_timeout=30)
    play(
        split.handle,
        [
            *ALICE_SPLITTING,
            (
                s.SessionLeft(ALICE),
                [s.SetRoutes(()), s.Drain(A, "orders"), s.RestoreEnv(), s.WaitForPods(30)],
            ),
            (s.PodsReady(), [s.StopForwarding()]),  # the fallback is not drained yet
            (s.Drained(A), [s.DeleteQueues((A,))]),
            (s.ForwardingStopped(), [s.Drain(FALLBACK, "orders")]),
            (s.QueuesDeleted((A,)), []),
            (s.Drained(FALLBACK), [s.DeleteQueues((FALLBACK,))]),
            (s.QueuesDeleted((FALLBACK,)), []),
        ],
    )
    assert split.phase is Phase.IDLE


def test_a_rollout_that_fails_fails_the_sessions_and_leaves_the_workload_as_it_was() -> None:
    split = machine(restart_timeout=30)
    play(
        split.handle,
        [
            (s.SessionJoined(ALICE, now=0), IGNORE),
            (s.QueuesCreated((FALLBACK, A), now=0), IGNORE),
            (s.Tick(29), []),
            (
                s.Tick(30),
                [
                    s.FailSessions(
                        (ALICE,),
                        "the workload's pods did not roll out on the fallback queues: "
                        "pods not ready within 30 s",
                    ),
                    s.RestoreEnv(),
                    s.WaitForPods(30),
                ],
            ),
            (s.PodsReady(), [s.Drain(A, "orders"), s.Drain(FALLBACK, "orders")]),
        ],
    )


def test_a_workload_deleted_while_it_is_restored_still_ends_the_split() -> None:
    split = machine(restart_timeout=30)
    play(
        split.handle,
        [
            *ALICE_SPLITTING,
            (s.SessionLeft(ALICE), IGNORE),  # restoring: RestoreEnv, WaitForPods
            (s.WorkloadGone(), [s.StopForwarding()]),  # no restore to retry, for ever
            (s.ForwardingStopped(), [s.Drain(FALLBACK, "orders")]),
            (s.Drained(A), [s.DeleteQueues((A,))]),
            (s.Drained(FALLBACK), [s.DeleteQueues((FALLBACK,))]),
            (s.QueuesDeleted((A, FALLBACK)), []),
        ],
    )
    assert split.phase is Phase.IDLE


def test_a_workload_deleted_under_its_sessions_fails_them_and_the_queues_drain_back() -> None:
    split = machine()
    play(
        split.handle,
        [
            *ALICE_SPLITTING,
            (
                s.WorkloadGone(),
                [s.FailSessions((ALICE,), "the workload was deleted"), s.StopForwarding()],
            ),
            (s.ForwardingStopped(), [s.Drain(A, "orders"), s.Drain(FALLBACK, "orders")]),
            (s.Tick(1.0), []),
            (s.RolloutFailed("late"), []),  # nothing left to roll out
        ],
    )
    assert split.phase is Phase.DRAINING and not split.patched


def test_a_broker_that_refuses_the_fallback_queue_fails_at_session_start() -> None:
    split = machine()
    play(
        split.handle,
        [
            (s.SessionJoined(ALICE), IGNORE),
            (s.QueuesCreated((A,)), []),
            (
                s.CreateFailed((FALLBACK,), "connection refused"),
                [
                    s.FailSessions((ALICE,), f"creating {FALLBACK}: connection refused"),
                    s.Drain(A, "orders"),  # never patched: nothing to restore
                ],
            ),
            (s.Drained(A), [s.DeleteQueues((A,))]),
            (s.QueuesDeleted((A,)), []),
        ],
    )
    assert split.phase is Phase.IDLE and not split.patched


def test_ttl_keeps_an_idle_split_for_a_session_that_comes_back() -> None:
    split = machine(ttl=60)
    play(
        split.handle,
        [
            *ALICE_SPLITTING,
            (s.SessionLeft(ALICE, now=100), [s.SetRoutes(()), s.Drain(A, "orders")]),
            (s.Tick(159), []),
            (s.SessionJoined(BOB, now=150), [s.CreateQueues((B,))]),
            (s.SessionLeft(BOB, now=170), []),
            (s.Tick(229), []),
            (s.Tick(230), [s.RestoreEnv(), s.WaitForPods(180)]),
        ],
    )


def test_a_slow_drain_is_reported_once_and_never_cut_short() -> None:
    split = machine(drain_timeout=10)
    play(
        split.handle,
        [
            *ALICE_SPLITTING,
            (s.SessionLeft(ALICE, now=0), IGNORE),
            (s.PodsReady(now=0), IGNORE),
            (s.ForwardingStopped(now=0), [s.Drain(FALLBACK, "orders")]),
            (
                s.Tick(10),
                [
                    s.Report(
                        f"draining {A}, {FALLBACK} takes longer than drainTimeout 10 s; "
                        "they are deleted only once empty"
                    )
                ],
            ),
            (s.Tick(20), []),
            (s.Drained(FALLBACK, remaining=5), [s.Drain(FALLBACK, "orders")]),
        ],
    )
    assert split.phase is Phase.DRAINING


def test_a_session_that_starts_during_teardown_waits_for_a_new_split() -> None:
    split = machine()
    play(
        split.handle,
        [
            *ALICE_SPLITTING,
            (s.SessionLeft(ALICE), IGNORE),
            (s.SessionJoined(BOB), []),
            (s.PodsReady(), [s.StopForwarding()]),
            (s.ForwardingStopped(), [s.Drain(FALLBACK, "orders")]),
            (s.Drained(A), IGNORE),
            (s.Drained(FALLBACK), IGNORE),
            (s.QueuesDeleted((A,)), []),
            (s.QueuesDeleted((FALLBACK,)), [s.CreateQueues((FALLBACK,)), s.CreateQueues((B,))]),
        ],
    )
    assert split.phase is Phase.CREATING and list(split.sessions) == [BOB]


def test_without_wait_for_pods_forwarding_starts_once_the_fallback_exists() -> None:
    split = machine(wait_for_pods=False)
    play(
        split.handle,
        [
            (s.SessionJoined(ALICE), IGNORE),
            (
                s.QueuesCreated((FALLBACK, A)),
                [
                    s.PatchEnv({"orders": FALLBACK}),
                    s.GiveQueues(ALICE, {"orders": A}),
                    s.SetRoutes((ALICE,)),
                ],
            ),
        ],
    )


def test_two_sessions_publishing_all_along_lose_nothing_and_leave_no_queue() -> None:
    world = World(machine(), FILTERS)
    for event in [s.SessionJoined(ALICE), s.SessionJoined(BOB)]:
        world.publish()
        world.feed(event)
        world.settle()
        world.consume()
    world.publish(10)
    world.forward()
    world.consume()
    world.publish(10)
    world.forward()  # these stay in the sessions' queues: drained back when they leave
    world.feed(s.SessionLeft(ALICE))
    world.publish()
    world.settle()
    world.feed(s.SessionLeft(BOB))
    world.publish()
    world.settle()
    world.consume()
    assert world.leftover_queues() == []
    assert world.accounted() == world.published
    assert world.each_session_got_only_its_own()
    assert world.consumed["a"] > 0 and world.consumed["b"] > 0 and world.consumed["workload"] > 0
    assert world.env == {"orders": "orders"}


ACTIONS = st.lists(
    st.one_of(
        st.tuples(st.just("join"), st.sampled_from([ALICE, BOB, CAROL])),
        st.tuples(st.just("leave"), st.sampled_from([ALICE, BOB, CAROL])),
        st.tuples(st.just("answer"), st.integers(0, 5)),
        st.tuples(st.just("fail"), st.integers(0, 5)),
        st.tuples(st.just("traffic"), st.integers(0, 3)),
        st.tuples(st.just("tick"), st.integers(1, 100)),
    ),
    max_size=40,
)


@given(ACTIONS, st.booleans(), st.sampled_from([0.0, 30.0]))
def test_any_order_of_sessions_and_answers_loses_nothing_and_leaves_no_queue(
    actions: list[tuple[str, object]], wait: bool, ttl: float
) -> None:
    world = World(
        SplitMachine(
            originals=["orders", "returns"],
            name=name,
            limits=Limits(wait_for_pods=wait, ttl=ttl, restart_timeout=50, drain_timeout=20),
        ),
        FILTERS,
    )
    for action, arg in actions:
        if action == "join":
            world.feed(s.SessionJoined(arg, now=world.now))  # type: ignore[arg-type]
        elif action == "leave":
            world.feed(s.SessionLeft(arg, now=world.now))  # type: ignore[arg-type]
        elif action == "answer" and world.answers:
            world.forward()
            world.feed(world.answers.pop(int(arg) % len(world.answers)))  # type: ignore[call-overload]
        elif action == "fail":
            world.fail(int(arg))  # type: ignore[call-overload]
        elif action == "traffic":
            world.publish(int(arg))  # type: ignore[call-overload]
            world.forward()
            world.consume()
        elif action == "tick":
            world.now += int(arg)  # type: ignore[call-overload]
            world.feed(s.Tick(world.now))
    for session in [ALICE, BOB, CAROL]:
        world.feed(s.SessionLeft(session, now=world.now))
    world.settle()
    world.now += 1000
    world.feed(s.Tick(world.now))  # past any ttl
    world.settle()
    world.consume()
    assert world.machine.phase is Phase.IDLE
    assert world.leftover_queues() == []
    assert world.accounted() == world.published
    assert world.each_session_got_only_its_own()
    assert world.env == {"orders": "orders", "returns": "returns"}
