"""Leader election on a `coordination.k8s.io/v1` Lease: the asyncio shell that carries out
:class:`podtap.core.kube.lease.LeaderElector`'s decisions, and the leader's label.

Each retry it reads the Lease, asks the elector, writes what it says (POST, or PUT at the
version read: 409 is how a candidate loses a race) and reports the answer. A follower's retry
waits `retry_period` plus client-go's jitter (up to 1.2 x more), so candidates do not march in
step; a leader renews every `retry_period`. Every request is bounded: by the leader's renew
deadline while leading, so an API server that hangs cannot keep a leader past it.

**The label.** While leading, the elector's own pod carries `label=true` (a merge PATCH); the
chart's Service selects it, so only the leader gets traffic. It is removed when the elector
stops leading or releases, and on start (a restarted process never keeps a stale one). A
process that dies cannot remove it: its pod is deleted by its ReplicaSet (the label goes with
it) or, when only the container restarted, the pod is not Ready (no endpoint) until the new
process starts and removes it. A new leader also removes the label from any other pod of the
namespace that still has it (an old leader cut off from the API server, which cannot).

**Losing is final** (as client-go's `Run` returns): `lost` is set, the label removed, and the
election ends; the operator should exit and let its kubelet restart it as a new candidate.
On a graceful exit the lease is released (client-go's `ReleaseOnCancel`): written with no
holder, so a follower takes over at its next retry instead of after the lease expires.

**Times.** Defaults: lease 3 s, renew deadline 2 s, retry 0.4 s (client-go's are 15/10/2 s).
A leader killed without release is replaced once its lease has not changed for 3 s by the
follower's clock: the follower saw the last renewal at most one jittered retry (0.88 s) after
it was written, and takes over at most one jittered retry after expiry, so ≤ 3 + 2 x 0.88 =
4.76 s from the kill, inside the ≤ 5 s the HA issue asks. A released lease is taken over at the
follower's next retry (≤ 0.88 s). The renew deadline (5 renewals) is 1 s shorter than the lease,
so a leader cut off from the API server stops leading before anyone else may start.
"""

from __future__ import annotations

import asyncio
import logging
import random
import time
from datetime import UTC, datetime
from types import TracebackType
from typing import Any

import aiohttp

from podtap.backends.kubernetes.rest import ApiError, Rest
from podtap.core.kube.lease import (
    JITTER_FACTOR,
    Create,
    LeaderElector,
    LeaseRecord,
    Lost,
    Put,
    Wait,
    lease_spec,
    parse_lease,
)
from podtap.net.tasks import TaskSet

__all__ = ["LEADER_LABEL", "LeaderElection", "NotLeading"]

log = logging.getLogger(__name__)
LEADER_LABEL = "podtap.dev/leader"
MERGE_PATCH = "application/merge-patch+json"
FAILURES = (ApiError, aiohttp.ClientError, OSError, TimeoutError)
"""What a request to the API server may fail with: the retry handles each alike."""


def _why(exc: BaseException) -> str:
    if isinstance(exc, ApiError):
        return f"{exc.code} {exc.reason}: {exc}"
    return f"{type(exc).__name__}: {exc}" if str(exc) else type(exc).__name__


class NotLeading(RuntimeError):
    """The election ended before this process led (or after it stopped)."""


class LeaderElection:
    """One candidate for the Lease `namespace/lease_name`, as pod `identity` (`async with`)."""

    def __init__(
        self,
        *,
        rest: Rest,
        namespace: str,
        lease_name: str,
        identity: str,
        label: str = LEADER_LABEL,
        lease_duration: int = 3,
        renew_deadline: float = 2.0,
        retry_period: float = 0.4,
        component: str = "podtap-operator",
        owner: dict[str, Any] | None = None,
    ) -> None:
        self._elector = LeaderElector(
            identity=identity,
            lease_duration=lease_duration,
            renew_deadline=renew_deadline,
            retry_period=retry_period,
        )
        self._rest, self._ns, self._name, self._label = rest, namespace, lease_name, label
        self._component = component
        self._owner = owner  # the Lease's ownerReference: it goes with the release
        self._lease_path = f"/apis/coordination.k8s.io/v1/namespaces/{namespace}/leases"
        self._pods_path = f"/api/v1/namespaces/{namespace}/pods"
        self._lease: dict[str, Any] = {}
        self._deadline = 0.0  # while leading: when the renew deadline passes
        self._labelled: bool | None = None  # unknown until written once
        self._swept = False
        self._leading = asyncio.Event()
        self._decided = asyncio.Event()  # leading, or the election ended
        self.lost = asyncio.Event()
        """Set when this process stops leading (renew deadline passed, lease taken, released)."""
        self._tasks = TaskSet()

    @property
    def identity(self) -> str:
        return self._elector.identity

    @property
    def holder(self) -> str:
        """Who holds the lease as last read ("" when no one, or not read yet)."""
        observed = self._elector.observed
        return observed.record.holder if observed else ""

    @property
    def is_leader(self) -> bool:
        return self._leading.is_set() and not self.lost.is_set()

    async def leading(self) -> None:
        """Return once this process leads; NotLeading if the election has ended instead."""
        await self._decided.wait()
        if self.lost.is_set():
            raise NotLeading(f"{self.identity} is no longer a candidate for lease {self._name}")

    async def __aenter__(self) -> LeaderElection:
        self._tasks.spawn(self._run(), name=f"leader-election {self._ns}/{self._name}")
        return self

    async def __aexit__(
        self, et: type[BaseException] | None, e: BaseException | None, tb: TracebackType | None
    ) -> None:
        await self._tasks.close()
        release = self._elector.release(now=time.time())
        if release is not None:
            await self._stop("released on shutdown")
            await self._release(release.record)
        elif self._labelled is not False:
            await self._sync_label()

    # -- the loop ----------------------------------------------------------------------
    async def _run(self) -> None:
        try:
            while not (self.lost.is_set() and self._labelled is False):
                wait = await self._step()
                await self._sync_label()
                pause = wait.until - time.time()
                if not self._elector.leading:
                    pause += random.random() * JITTER_FACTOR * self._elector.retry_period
                await asyncio.sleep(max(pause, 0.0))
        except Exception:
            self.lost.set()  # a bug, not the API server: the operator must not go on leading
            self._decided.set()
            raise

    def _timeout(self) -> float:
        """A request's bound: the renew deadline while leading, else one renew deadline."""
        if self._elector.leading:
            return max(self._deadline - time.time(), 0.001)
        return self._elector.renew_deadline

    async def _call(self, method: str, path: str, **kw: Any) -> dict[str, Any]:
        async with asyncio.timeout(self._timeout()):
            return await self._rest.call(method, path, **kw)

    async def _step(self) -> Wait:
        """One retry: read, decide, write, report."""
        if self.lost.is_set():
            return Wait(until=time.time() + self._elector.retry_period)
        try:
            async with asyncio.timeout(self._timeout()):
                raw = await self._rest.get_or_none(f"{self._lease_path}/{self._name}")
        except FAILURES as exc:
            return await self._failed(f"reading it failed ({_why(exc)})")
        action = self._elector.decide(parse_lease(raw) if raw else None, now=time.time())
        if isinstance(action, Wait):
            return action
        if isinstance(action, Lost):
            await self._stop(action.reason)
            return Wait(until=time.time())
        sent = time.time()
        try:
            answer = await self._write(action)
        except FAILURES as exc:
            return await self._failed(f"{type(action).__name__} failed ({_why(exc)})")
        was = self._elector.leading
        # Renewed as of when the write was sent, not answered: that is before any follower
        # can have seen it, so this leader's deadline ends a whole (lease - deadline) earlier
        # than theirs, however slow the answer was.
        wait = self._elector.written(parse_lease(answer), now=sent)
        self._lease = answer
        if self._elector.leading:
            self._deadline = sent + self._elector.renew_deadline
            if not was:
                log.info("%s became leader of lease %s/%s", self.identity, self._ns, self._name)
                self._leading.set()
                self._decided.set()
                await self._sync_label()
                await self._event("became leader")
        return wait

    async def _write(self, action: Create | Put) -> dict[str, Any]:
        meta: dict[str, Any] = {"name": self._name, "namespace": self._ns}
        if self._owner is not None:  # on every write: a PUT without it would drop it
            meta["ownerReferences"] = [self._owner]
        if isinstance(action, Put):
            meta["resourceVersion"] = action.resource_version
        lease = {"apiVersion": "coordination.k8s.io/v1", "kind": "Lease", "metadata": meta}
        lease["spec"] = lease_spec(action.record)
        if isinstance(action, Create):
            return await self._call("POST", self._lease_path, body=lease)
        return await self._call("PUT", f"{self._lease_path}/{self._name}", body=lease)

    async def _failed(self, what: str) -> Wait:
        log.info("%s: lease %s/%s: %s", self.identity, self._ns, self._name, what)
        outcome = self._elector.failed(now=time.time())
        if isinstance(outcome, Lost):
            await self._stop(outcome.reason)
            return Wait(until=time.time())
        return outcome

    async def _stop(self, reason: str) -> None:
        log.warning(
            "%s stopped leading lease %s/%s: %s", self.identity, self._ns, self._name, reason
        )
        self.lost.set()
        self._decided.set()
        await self._sync_label()
        await self._event("stopped leading")

    async def _release(self, record: LeaseRecord) -> None:
        """Write the lease with no holder, at the version just read, if still mine."""
        path = f"{self._lease_path}/{self._name}"
        try:
            async with asyncio.timeout(self._elector.renew_deadline):
                raw = await self._rest.get_or_none(path)
                fresh = parse_lease(raw) if raw else None
                if fresh is None or fresh.record.holder != self.identity:
                    return
                await self._write(Put(record=record, resource_version=fresh.resource_version))
        except FAILURES as exc:
            log.warning("%s: releasing lease %s failed: %s", self.identity, self._name, exc)

    # -- the label and the events ------------------------------------------------------
    async def _patch_label(self, pod: str, value: str | None) -> None:
        body = {"metadata": {"labels": {self._label: value}}}
        try:
            await self._call(
                "PATCH", f"{self._pods_path}/{pod}", body=body, content_type=MERGE_PATCH
            )
        except ApiError as exc:
            if not (exc.code == 404 and value is None):  # no pod: no label to remove
                raise

    async def _sync_label(self) -> None:
        """Make this pod's label say whether it leads; a new leader removes others' labels."""
        want = self._elector.leading and not self.lost.is_set()
        try:
            if self._labelled is not want:
                await self._patch_label(self.identity, "true" if want else None)
                self._labelled = want
            if want and not self._swept:
                query = [("labelSelector", f"{self._label}=true")]
                listing = await self._call("GET", self._pods_path, query=query)
                for pod in listing.get("items") or ():
                    if (name := pod["metadata"]["name"]) != self.identity:
                        log.info(
                            "%s: removing the stale leader label of pod %s", self.identity, name
                        )
                        await self._patch_label(name, None)
                self._swept = True
        except FAILURES as exc:
            log.info("%s: the leader label of pod %s: %s", self.identity, self.identity, exc)

    async def _event(self, what: str) -> None:
        """An Event on the Lease, as client-go's LeaseLock.RecordEvent writes it."""
        meta = self._lease.get("metadata") or {}
        stamp = datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
        subject = {"apiVersion": "coordination.k8s.io/v1", "kind": "Lease", "name": self._name}
        subject |= {"namespace": self._ns, "uid": meta.get("uid", "")}
        subject["resourceVersion"] = meta.get("resourceVersion", "")
        event = {
            "apiVersion": "v1",
            "kind": "Event",
            "metadata": {"name": f"{self._name}.{time.time_ns():x}", "namespace": self._ns},
            "involvedObject": subject,
            "reason": "LeaderElection",
            "message": f"{self.identity} {what}",
            "type": "Normal",
            "source": {"component": self._component},
            "reportingComponent": self._component,
            "reportingInstance": self.identity,
            "firstTimestamp": stamp,
            "lastTimestamp": stamp,
            "count": 1,
        }
        try:
            await self._call("POST", f"/api/v1/namespaces/{self._ns}/events", body=event)
        except FAILURES as exc:
            log.info("%s: the %r event: %s", self.identity, what, exc)
