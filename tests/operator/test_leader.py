"""Leader election on a Lease against the API server in-process: two (or three) operator pods
as Pod objects, each elector a real client. A watcher records every holderIdentity the Lease
takes over the whole test; a referee checks that no two electors lead at once. Failover
times are printed (pytest -s)."""

from __future__ import annotations

import asyncio
import json
import logging
import sys
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Coroutine, Iterator
from contextlib import AsyncExitStack, asynccontextmanager
from pathlib import Path
from typing import Any

import pytest

from podtap.backends.kubernetes.config import kubeconfig_client
from podtap.backends.kubernetes.rest import ApiError, Rest
from podtap.backends.local.kubeapi.app import Running
from podtap.net.tasks import TaskSet
from podtap.operator.leader import LEADER_LABEL, LeaderElection
from podtap.testing.wait import async_wait_until
from tests.backends.kube_objects import NS, Gate, pod
from tests.kubeapi.server import in_thread

DURATION, DEADLINE, RETRY = 3, 2.0, 0.4
JITTERED = RETRY * 2.2
"""The longest a follower waits between two reads (retry + client-go's jitter)."""
LEASES = f"/apis/coordination.k8s.io/v1/namespaces/{NS}/leases"
PODS = f"/api/v1/namespaces/{NS}/pods"
EVENTS = f"/api/v1/namespaces/{NS}/events"
ROOT = Path(__file__).resolve().parents[2]
MERGE = "application/merge-patch+json"


@pytest.fixture(scope="module")
def api() -> Iterator[Running]:
    with in_thread() as running:
        yield running


class GatedRest(Rest):
    """The real client, but while `barrier` is set a read that finds the lease free (or
    absent) waits until every party has read it free: they all decide on the same
    resourceVersion, so all but one write a stale one (the race made certain, not hoped for)."""

    barrier: asyncio.Barrier | None = None

    async def get_or_none(self, path: str) -> dict[str, Any] | None:
        got = await super().get_or_none(path)
        barrier = GatedRest.barrier
        free = got is None or not (got.get("spec") or {}).get("holderIdentity")
        if barrier is not None and path.startswith(LEASES) and free:
            await barrier.wait()
        return got


class World:
    """One test's lease, its pods (cleaned up at the end) and what was seen of them."""

    def __init__(self, rest: Rest, lease: str, pods: set[str]) -> None:
        self.rest, self.lease, self.pods = rest, lease, pods
        self.watching = asyncio.Event()
        self.holders: list[str] = []
        self.electors: list[LeaderElection] = []
        self.overlaps: list[list[str]] = []

    async def labelled(self) -> set[str]:
        query = [("labelSelector", f"{LEADER_LABEL}=true")]
        listing = await self.rest.get(PODS, query=query)
        return {p["metadata"]["name"] for p in listing["items"]} & self.pods

    async def lease_holder(self) -> str:
        lease = await self.rest.get_or_none(f"{LEASES}/{self.lease}")
        return str(((lease or {}).get("spec") or {}).get("holderIdentity") or "")

    async def watch(self) -> None:
        query = [("watch", "true"), ("fieldSelector", f"metadata.name={self.lease}")]
        response = await self.rest.stream(LEASES, query=query, read_timeout=600)
        async with response:
            self.watching.set()
            while line := await response.content.readline():
                spec = json.loads(line)["object"].get("spec") or {}
                holder = str(spec.get("holderIdentity") or "")
                if not self.holders or self.holders[-1] != holder:
                    self.holders.append(holder)

    async def referee(self) -> None:
        while True:
            leaders = [e.identity for e in self.electors if e.is_leader]
            if len(leaders) > 1:
                self.overlaps.append(leaders)
            await asyncio.sleep(0.005)  # sampling, not synchronisation


@asynccontextmanager
async def world(api: Running, lease: str, *names: str) -> AsyncIterator[World]:
    """Pods `names` (each with a stale leader label), a watcher and a referee."""
    client = await kubeconfig_client(path=api.kubeconfig, context=None)
    tasks = TaskSet()
    w = World(Rest(client), lease, set(names))
    try:
        for name in names:
            made = pod(name, {"app": "operator", LEADER_LABEL: "true"})
            await w.rest.call("POST", PODS, body=made)
        tasks.spawn(w.watch(), name="lease watcher")
        tasks.spawn(w.referee(), name="referee")
        async with asyncio.timeout(5):
            await w.watching.wait()
        yield w
        assert not w.overlaps, f"two leaders at once: {w.overlaps[:3]}"
    finally:
        await tasks.close()
        for name in names:
            await _delete(w.rest, f"{PODS}/{name}")
        await _delete(w.rest, f"{LEASES}/{lease}")
        for name in await events_of(w, names=True):
            await _delete(w.rest, f"{EVENTS}/{name}")
        await client.close()


async def _delete(rest: Rest, path: str) -> None:
    try:
        await rest.call("DELETE", path)
    except ApiError as exc:
        if exc.code != 404:
            raise


@asynccontextmanager
async def elector(
    w: World, identity: str, *, kubeconfig: Path, gated: bool = False
) -> AsyncIterator[LeaderElection]:
    client = await kubeconfig_client(path=kubeconfig, context=None)
    rest = GatedRest(client) if gated else Rest(client)
    election = LeaderElection(
        rest=rest,
        namespace=NS,
        lease_name=w.lease,
        identity=identity,
        lease_duration=DURATION,
        renew_deadline=DEADLINE,
        retry_period=RETRY,
    )
    w.electors.append(election)
    try:
        async with election:
            yield election
    finally:
        await client.close()


def run(body: Callable[[], Coroutine[Any, Any, None]]) -> None:
    asyncio.run(body())


async def timed(aw: Awaitable[Any], *, timeout: float) -> float:
    start = time.monotonic()
    async with asyncio.timeout(timeout):
        await aw
    return time.monotonic() - start


async def eventually(check: Callable[[], Awaitable[object]], *, what: str) -> None:
    """Wait (5 s at most) until `check`, which asks the API server, is true."""
    deadline = time.monotonic() + 5
    while not await check():
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        await asyncio.sleep(0.02)


async def label_on(w: World, name: str) -> None:
    async def only() -> bool:
        return await w.labelled() == {name}

    await eventually(only, what=f"the leader label on {name} alone")


async def _is(got: Awaitable[object], want: object) -> bool:
    return await got == want


async def events_of(w: World, *, names: bool = False) -> list[str]:
    """The messages (or names) of the LeaderElection events on the test's Lease."""
    listing = await w.rest.get(EVENTS)
    return [
        e["metadata"]["name"] if names else e["message"]
        for e in listing["items"]
        if e["involvedObject"].get("name") == w.lease
        and e["involvedObject"].get("kind") == "Lease"
        and e["reason"] == "LeaderElection"
    ]


def test_of_two_electors_one_leads_and_only_its_pod_has_the_label(
    api: Running, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger="podtap.operator.leader")

    async def body() -> None:
        async with world(api, "first", "op-a", "op-b") as w, AsyncExitStack() as stack:
            GatedRest.barrier = asyncio.Barrier(2)  # both read "no lease", both create
            try:
                a, b = [
                    await stack.enter_async_context(
                        elector(w, name, kubeconfig=api.kubeconfig, gated=True)
                    )
                    for name in ("op-a", "op-b")
                ]
                await async_wait_until(lambda: a.is_leader or b.is_leader, what="a leader")
            finally:
                GatedRest.barrier = None
            leader, follower = (a, b) if a.is_leader else (b, a)
            await label_on(w, leader.identity)  # the follower's stale label is gone too
            assert "Create failed (409 AlreadyExists" in caplog.text
            assert await w.lease_holder() == leader.identity and not follower.is_leader
            await async_wait_until(lambda: follower.holder == leader.identity, what="a read")
            said = [f"{leader.identity} became leader"]
            await eventually(lambda: _is(events_of(w), said), what=f"the events {said}")
            assert w.holders == [leader.identity]

    run(body)


def test_a_released_lease_is_taken_at_the_followers_next_retry(api: Running) -> None:
    async def body() -> None:
        async with world(api, "release", "op-c", "op-d") as w:
            async with AsyncExitStack() as stack:
                async with elector(w, "op-c", kubeconfig=api.kubeconfig) as c:
                    await timed(c.leading(), timeout=5)
                    await label_on(w, "op-c")
                    d = await stack.enter_async_context(
                        elector(w, "op-d", kubeconfig=api.kubeconfig)
                    )
                    await async_wait_until(lambda: d.holder == "op-c", what="d sees c lead")
                start = time.monotonic()  # c released the lease on its way out
                assert c.lost.is_set() and not c.is_leader
                await timed(d.leading(), timeout=JITTERED + 1)
                took = time.monotonic() - start
                await label_on(w, "op-d")
                moved = time.monotonic() - start
                print(f"\nfailover after a release: leads in {took:.3f} s, label in {moved:.3f} s")
                assert took < 1.0
                said = [f"op-{x} {e}" for x in "cd" for e in ("became leader", "stopped leading")]
                await eventually(lambda: _is(events_of(w), said[:3]), what=f"events {said[:3]}")
            assert await w.labelled() == set()  # d released too: no pod is labelled
            final = ["op-c", "", "op-d", ""]
            await async_wait_until(lambda: w.holders == final, what=f"holders {final}")
            assert await events_of(w) == said

    run(body)


LEADER_PROCESS = (
    """
import asyncio, sys
from podtap.backends.kubernetes.config import kubeconfig_client
from podtap.backends.kubernetes.rest import Rest
from podtap.operator.leader import LeaderElection

async def main() -> None:
    kubeconfig, namespace, lease, identity = sys.argv[1:5]
    rest = Rest(await kubeconfig_client(path=kubeconfig, context=None))
    election = LeaderElection(rest=rest, namespace=namespace, lease_name=lease,
        identity=identity, lease_duration=DURATION, renew_deadline=DEADLINE, retry_period=RETRY)
    async with election:
        await election.leading()
        print("leading", flush=True)
        await asyncio.Event().wait()

asyncio.run(main())
""".replace("DURATION", str(DURATION))
    .replace("DEADLINE", str(DEADLINE))
    .replace("RETRY", str(RETRY))
)


def test_a_killed_leader_is_replaced_within_the_lease_duration(api: Running) -> None:
    async def body() -> None:
        async with world(api, "killed", "op-e", "op-f") as w:
            args = (str(api.kubeconfig), NS, w.lease, "op-e")
            proc = await asyncio.create_subprocess_exec(
                sys.executable,
                "-c",
                LEADER_PROCESS,
                *args,
                cwd=ROOT,
                stdout=asyncio.subprocess.PIPE,
            )
            try:
                assert proc.stdout is not None
                async with asyncio.timeout(30):
                    assert await proc.stdout.readline() == b"leading\n"
                await label_on(w, "op-e")
                async with elector(w, "op-f", kubeconfig=api.kubeconfig) as f:
                    await async_wait_until(lambda: f.holder == "op-e", what="f sees e lead")
                    proc.kill()  # SIGKILL: no release, the label stays on its pod
                    start = time.monotonic()
                    await timed(f.leading(), timeout=DURATION + 2 * JITTERED + 1)
                    took = time.monotonic() - start
                    await label_on(w, "op-f")  # the new leader removed the dead one's label
                    moved = time.monotonic() - start
                    print(f"\nfailover after a kill: leads in {took:.3f} s, label in {moved:.3f} s")
                    assert took <= DURATION + 2 * JITTERED
                    assert moved <= 5.0
                    assert w.holders[:2] == ["op-e", "op-f"]
            finally:
                if proc.returncode is None:
                    proc.kill()
                await proc.wait()

    run(body)


def test_of_two_followers_racing_for_a_released_lease_the_stale_write_loses(
    api: Running, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger="podtap.operator.leader")

    async def body() -> None:
        async with world(api, "race", "op-g", "op-h", "op-i") as w, AsyncExitStack() as stack:
            GatedRest.barrier = asyncio.Barrier(2)  # both will read the released lease
            async with elector(w, "op-g", kubeconfig=api.kubeconfig) as g:
                await timed(g.leading(), timeout=5)
                h, i = [
                    await stack.enter_async_context(
                        elector(w, name, kubeconfig=api.kubeconfig, gated=True)
                    )
                    for name in ("op-h", "op-i")
                ]
                await async_wait_until(
                    lambda: h.holder == i.holder == "op-g", what="both followers see g lead"
                )
            try:
                await async_wait_until(lambda: h.is_leader or i.is_leader, what="a new leader")
            finally:
                GatedRest.barrier = None
            winner, loser = (h, i) if h.is_leader else (i, h)
            await label_on(w, winner.identity)
            assert "Acquire failed (409 Conflict" in caplog.text
            assert not loser.is_leader and not loser.lost.is_set()
            final = ["op-g", "", winner.identity]
            await async_wait_until(lambda: w.holders == final, what=f"holders {final}")

    run(body)


def test_a_leader_cut_off_from_the_api_server_stops_before_its_lease_expires(
    api: Running,
) -> None:
    async def body() -> None:
        gate = Gate()
        async with (
            world(api, "cut", "op-j", "op-k") as w,
            gate.serving(api) as through,
            elector(w, "op-j", kubeconfig=through) as j,
        ):
            await timed(j.leading(), timeout=5)
            async with elector(w, "op-k", kubeconfig=api.kubeconfig) as k:
                await async_wait_until(lambda: k.holder == "op-j", what="k sees j lead")
                async with gate.held():  # j's requests hang from now on
                    gate.cut()
                    stopped = await timed(j.lost.wait(), timeout=DEADLINE + 1)
                    took = await timed(k.leading(), timeout=DURATION + 2 * JITTERED)
                    print(
                        f"\ncut off: the leader stops after {stopped:.3f} s, "
                        f"the follower leads after {stopped + took:.3f} s"
                    )
                    assert stopped <= DEADLINE + 0.2 and took > 0.2
                    await label_on(w, "op-k")  # the new leader removed j's label
                assert w.holders[:2] == ["op-j", "op-k"]
                assert not j.is_leader and k.is_leader

    run(body)


def test_a_candidate_that_starts_as_a_follower_removes_its_stale_label(api: Running) -> None:
    async def body() -> None:
        async with (
            world(api, "stale", "op-l", "op-m") as w,
            elector(w, "op-l", kubeconfig=api.kubeconfig) as leader,
        ):
            await timed(leader.leading(), timeout=5)
            await label_on(w, "op-l")  # the leader's sweep removed op-m's label
            stale = {"metadata": {"labels": {LEADER_LABEL: "true"}}}
            await w.rest.call("PATCH", f"{PODS}/op-m", body=stale, content_type=MERGE)
            assert await w.labelled() == {"op-l", "op-m"}  # a process restarted in op-m
            async with elector(w, "op-m", kubeconfig=api.kubeconfig) as follower:
                await label_on(w, "op-l")
                assert not follower.is_leader and leader.is_leader

    run(body)
