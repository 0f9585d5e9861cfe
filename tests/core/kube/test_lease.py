"""Leader election playbooks: two candidates, one Lease with the API server's optimistic
concurrency (409 on a stale resourceVersion), a simulated clock. Each step ticks one candidate
at a time; the transcript says what it did and what the API server answered."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import replace

import pytest

from podtap.core.kube.lease import (
    Acquire,
    Create,
    LeaderElector,
    LeaseRecord,
    Lost,
    Observed,
    Release,
    Renew,
    Wait,
    lease_spec,
    parse_lease,
)
from podtap.testing.playbook import play


class LeaseStore:
    """The one Lease as the API server keeps it: a global resourceVersion, 409s."""

    def __init__(self) -> None:
        self.lease: Observed | None = None
        self._rv = 100

    def _put(self, record: LeaseRecord) -> Observed:
        self._rv += 1
        self.lease = Observed(record=record, resource_version=str(self._rv))
        return self.lease

    def create(self, record: LeaseRecord) -> Observed | None:
        return None if self.lease is not None else self._put(record)  # 409 AlreadyExists

    def update(self, record: LeaseRecord, rv: str) -> Observed | None:
        if self.lease is None or self.lease.resource_version != rv:
            return None  # 409 Conflict: the object has been modified
        return self._put(record)


def elector(name: str) -> LeaderElector:
    return LeaderElector(identity=name, lease_duration=15, renew_deadline=10, retry_period=2)


class Cluster:
    """Runs candidates' decisions against the store, as the operator's shell will."""

    def __init__(self, *names: str) -> None:
        self.store = LeaseStore()
        self.candidates = {n: elector(n) for n in names}

    def leaders(self) -> list[str]:
        return [n for n, e in self.candidates.items() if e.leading]

    def tick(self, feed: tuple[float, str]) -> Iterator[str]:
        """One retry of candidate `name` at time `now`."""
        now, name = feed
        me = self.candidates[name]
        action = me.decide(self.store.lease, now=now)
        yield from self._carry_out(me, action, now)
        assert len(self.leaders()) <= 1, f"two leaders at {now}: {self.leaders()}"

    def _carry_out(self, me: LeaderElector, action: object, now: float) -> Iterator[str]:
        answer: Observed | None
        match action:
            case Wait(until=until):
                yield f"{me.identity} waits until {until:g}"
                return
            case Lost(reason=reason):
                yield f"{me.identity} lost: {reason}"
                return
            case Create(record=record):
                answer, verb = self.store.create(record), "create"
            case Acquire(record=record, resource_version=rv):
                answer, verb = self.store.update(record, rv), f"acquire #{record.transitions}"
            case Renew(record=record, resource_version=rv):
                answer, verb = self.store.update(record, rv), "renew"
            case Release(record=record, resource_version=rv):
                answer, verb = self.store.update(record, rv), "release"
            case _:
                raise AssertionError(f"unexpected action {action!r}")
        if answer is None:
            then = me.failed(now=now)
            yield f"{me.identity} {verb}: 409" + (
                f", lost: {then.reason}" if isinstance(then, Lost) else ""
            )
            return
        assert me.written(answer, now=now) == Wait(until=now + me.retry_period)
        yield f"{me.identity} {verb}: ok" + (", leading" if me.leading else "")


def at(now: float, name: str) -> tuple[float, str]:
    return (now, name)


def test_one_leader_and_it_renews_while_the_other_waits() -> None:
    c = Cluster("a", "b")
    play(
        c.tick,
        [
            (at(0, "a"), ["a create: ok, leading"]),
            (at(0.5, "b"), ["b waits until 2.5"]),
            (at(2, "a"), ["a renew: ok, leading"]),
            (at(2.5, "b"), ["b waits until 4.5"]),
            # 20 s after the lease was created: but it changed at 2, 4, ... so b still waits
            (at(4, "a"), ["a renew: ok, leading"]),
            (at(16, "a"), ["a lost: not renewed within the renew deadline (10 s)"]),
        ],
    )
    assert c.store.lease is not None and c.store.lease.record.transitions == 0


def test_failover_after_the_lease_expires_counts_a_transition() -> None:
    c = Cluster("a", "b")
    play(
        c.tick,
        [
            (at(0, "a"), ["a create: ok, leading"]),
            (at(1, "b"), ["b waits until 3"]),  # b observes the lease at 1
        ],
    )
    del c.candidates["a"]  # a is killed: no more renewals
    play(
        c.tick,
        [
            # expired for b at 1 + 15 = 16 (when b saw it change, plus its duration), not before
            (at(15.9, "b"), ["b waits until 17.9"]),
            (at(16, "b"), ["b acquire #1: ok, leading"]),
            (at(17, "b"), ["b renew: ok, leading"]),
        ],
    )
    lease = c.store.lease
    assert lease is not None
    assert (lease.record.holder, lease.record.transitions, lease.record.acquired) == ("b", 1, 16)


def test_the_other_nodes_renew_time_is_not_trusted() -> None:
    # a's clock is an hour behind: the renewTime it writes is long "expired" by b's clock.
    c = Cluster("a", "b")
    a = c.candidates["a"]
    play(c.tick, [(at(0, "a"), ["a create: ok, leading"])])
    assert c.store.lease is not None
    c.store.lease = replace(
        c.store.lease,
        record=replace(c.store.lease.record, renewed=-3600, acquired=-3600),
    )
    play(
        c.tick,
        [
            (at(100, "b"), ["b waits until 102"]),  # first seen at 100: valid until 115
            (at(114, "b"), ["b waits until 116"]),
        ],
    )
    assert not c.candidates["b"].leading and a.leading


def test_a_stale_update_loses_with_a_conflict() -> None:
    # Both saw the same expired lease; a's takeover wins, b's PUT carries the old version.
    c = Cluster("a", "b")
    c.store._put(LeaseRecord(holder="gone", duration=15, acquired=0, renewed=0, transitions=3))
    play(c.tick, [(at(0, "a"), ["a waits until 2"]), (at(0, "b"), ["b waits until 2"])])
    a, b = c.candidates["a"], c.candidates["b"]
    stale = c.store.lease
    a_action = a.decide(stale, now=15)
    b_action = b.decide(stale, now=15)
    assert isinstance(a_action, Acquire) and isinstance(b_action, Acquire)
    play(lambda act: c._carry_out(a, act, 15), [(a_action, ["a acquire #4: ok, leading"])])
    play(lambda act: c._carry_out(b, act, 15), [(b_action, ["b acquire #4: 409"])])
    assert c.leaders() == ["a"]
    play(c.tick, [(at(16, "b"), ["b waits until 18"])])


def test_a_lost_create_race_leaves_a_follower() -> None:
    c = Cluster("a", "b")
    a_first = c.candidates["a"].decide(None, now=0)
    b_first = c.candidates["b"].decide(None, now=0)
    assert isinstance(a_first, Create) and isinstance(b_first, Create)
    play(
        lambda act: c._carry_out(c.candidates["a"], act, 0), [(a_first, ["a create: ok, leading"])]
    )
    play(lambda act: c._carry_out(c.candidates["b"], act, 0), [(b_first, ["b create: 409"])])
    assert c.leaders() == ["a"]


def test_release_makes_the_other_leader_at_its_next_retry() -> None:
    c = Cluster("a", "b")
    play(c.tick, [(at(0, "a"), ["a create: ok, leading"]), (at(1, "b"), ["b waits until 3"])])
    a = c.candidates["a"]
    release = a.release(now=2)
    assert release is not None and not a.leading
    play(lambda act: c._carry_out(a, act, 2), [(release, ["a release: ok"])])
    assert c.store.lease is not None and c.store.lease.record.holder == ""
    assert c.store.lease.record.duration == 1
    play(c.tick, [(at(3, "b"), ["b acquire #1: ok, leading"])])
    assert a.release(now=4) is None  # not leading: nothing to give up


def test_a_leader_that_sees_another_holder_stops_at_once() -> None:
    c = Cluster("a", "b")
    play(c.tick, [(at(0, "a"), ["a create: ok, leading"])])
    assert c.store.lease is not None
    c.store._put(replace(c.store.lease.record, holder="b", transitions=1))
    play(c.tick, [(at(2, "a"), ["a lost: the lease is held by b now"])])
    assert c.leaders() == []


def test_a_cut_off_leader_stops_before_the_other_takes_over() -> None:
    # a cannot reach the API server after its renewal at 2: its reads fail from then on.
    c = Cluster("a", "b")
    a = c.candidates["a"]
    play(c.tick, [(at(0, "a"), ["a create: ok, leading"]), (at(2, "a"), ["a renew: ok, leading"])])
    play(c.tick, [(at(3, "b"), ["b waits until 5"])])  # b saw the renewal at 3: valid to 18
    assert a.failed(now=11) == Wait(until=13)
    assert isinstance(a.failed(now=12), Lost) and c.leaders() == []  # 2 + 10: a knows first
    play(
        c.tick,
        [(at(17.9, "b"), ["b waits until 19.9"]), (at(18, "b"), ["b acquire #1: ok, leading"])],
    )


def test_a_leader_whose_renewals_fail_stops_at_the_deadline() -> None:
    c = Cluster("a")
    a = c.candidates["a"]
    play(c.tick, [(at(0, "a"), ["a create: ok, leading"])])
    assert a.failed(now=9.9) == Wait(until=11.9) and a.leading
    assert a.failed(now=10) == Lost(reason="not renewed within the renew deadline (10 s)")
    assert not a.leading


@pytest.mark.parametrize(
    ("duration", "deadline", "retry", "message"),
    [
        (10, 10, 2, "lease duration \\(10 s\\) must be greater than the renew deadline"),
        (15, 2, 2, "renew deadline \\(2 s\\) must be greater than 1.2 x the retry period"),
        (15, 10, 0, "must be positive"),
    ],
)
def test_timings_client_go_refuses_are_refused(
    duration: int, deadline: float, retry: float, message: str
) -> None:
    with pytest.raises(ValueError, match=message):
        LeaderElector(
            identity="a", lease_duration=duration, renew_deadline=deadline, retry_period=retry
        )


def test_lease_objects_round_trip_through_the_api_shape() -> None:
    record = LeaseRecord(holder="op-1", duration=15, acquired=1.5, renewed=2.25, transitions=2)
    spec = lease_spec(record)
    assert spec == {
        "holderIdentity": "op-1",
        "leaseDurationSeconds": 15,
        "acquireTime": "1970-01-01T00:00:01.500000Z",
        "renewTime": "1970-01-01T00:00:02.250000Z",
        "leaseTransitions": 2,
    }
    lease = {"metadata": {"name": "podtap-operator", "resourceVersion": "42"}, "spec": spec}
    assert parse_lease(lease) == Observed(record=record, resource_version="42")
    released = lease_spec(replace(record, holder=""))
    assert "holderIdentity" not in released
    assert parse_lease({"metadata": {"resourceVersion": "7"}, "spec": {}}).record.holder == ""
