"""What an operator that died with queue splits running left behind, finished by the next.

A running split keeps its record on the workload (``queues.podtap.dev/split``, see
:class:`~podtap.operator.queue_split_workload.SplitRecord`). The operator that leads next
finds those records — every Deployment and StatefulSet it may list at start, and the
workload of any split about to start, first — and finishes each split as its sessions'
leaving would have: the env set back to the original queues, every queue the split made
drained back into its original (messages a session had not read yet go to the deployed
workload: none is lost), then deleted, then the record removed. A session that resumes
afterwards and splits the workload again gets a new split, with queues of the same names.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable, Sequence

from podtap.backends.base import ClusterBackend
from podtap.backends.brokers.base import BrokerError
from podtap.core.queues import SplitConfig, plan_split
from podtap.operator.queue_split_brokers import ClientFactory, SplitBrokers
from podtap.operator.queue_split_workload import KINDS, SplitRecord, Workload, WorkloadError

__all__ = ["Leftovers"]

log = logging.getLogger(__name__)
Key = tuple[str, str, str]  # namespace, kind, name
ConfigOf = Callable[[Workload], Awaitable[SplitConfig]]


class Leftovers:
    def __init__(
        self,
        backend: ClusterBackend,
        *,
        config_of: ConfigOf,
        clients: ClientFactory | None = None,
        audit: Callable[..., None] = lambda kind, **fields: None,
        drain_pass: float = 5.0,
    ) -> None:
        self.backend, self._config_of, self._clients = backend, config_of, clients
        self._audit, self._drain_pass = audit, drain_pass
        self._locks: dict[Key, asyncio.Lock] = {}

    async def sweep(self, *, namespaces: Sequence[str | None] = (None,)) -> int:
        """Finish every recorded split of the workloads this operator may list; how many."""
        found: list[Key] = []
        for kind, api_kind in KINDS.items():
            for namespace in namespaces:
                try:
                    objs = await self.backend.list_resources(api_kind, namespace=namespace)
                except Exception as exc:  # not allowed to list there: found when next split
                    log.info("leftover splits: cannot list %ss: %s", kind, exc)
                    continue
                found += [
                    (o["metadata"]["namespace"], kind, o["metadata"]["name"])
                    for o in objs
                    if SplitRecord.of(o) is not None
                ]
        for key in found:
            try:
                await self.finish(key)
            except WorkloadError as exc:  # left for the split that comes next
                log.warning("split %s/%s/%s left as it was: %s", *key, exc)
        return len(found)

    async def finish(self, key: Key) -> None:
        """Finish the split recorded on workload ``key`` if it has a record (else nothing)."""
        async with self._locks.setdefault(key, asyncio.Lock()):
            workload = Workload(self.backend, kind=key[1], namespace=key[0], name=key[2])
            try:
                record = SplitRecord.of(await workload.read())
            except WorkloadError:
                return  # gone: nothing of it to restore
            if record is None:
                return
            try:
                await self._finish(workload, record)
            except BrokerError as exc:
                raise WorkloadError(
                    f"cannot finish the queue split an earlier operator left on "
                    f"{workload.label}: {exc}"
                ) from None

    async def _finish(self, workload: Workload, record: SplitRecord) -> None:
        label = f"{workload.namespace}/{workload.label}"
        log.warning("split %s: an earlier operator left it running; finishing it", label)
        await workload.set_env(record.restore)
        if record.made:
            config = await self._config_of(workload)
            plan = plan_split(config, await workload.pod_spec())
            brokers = (
                SplitBrokers(plan)
                if self._clients is None
                else SplitBrokers(plan, clients=self._clients)
            )
            try:
                for name, original in record.made.items():
                    if original not in plan.originals:
                        raise WorkloadError(
                            f"queue {name} drains into {original}, which the split config "
                            f"no longer names; it is left on the broker"
                        )
                    moved = await self._drain(brokers, name, original, limit=config.drain_timeout)
                    await brokers.delete(name, original=original)
                    await workload.record(gone=[name])
                    self._audit("split_drain", workload=label, queue=name, into=original,
                                moved=moved)  # fmt: skip
            finally:
                await brokers.close()
        await workload.record(clear=True)
        self._audit("split_end", workload=label, recovered=True)

    async def _drain(self, brokers: SplitBrokers, name: str, original: str, *, limit: float) -> int:
        """Drain passes of ``name`` into ``original`` until it is empty; messages moved.
        A queue that will not drain within ``limit`` seconds is left, and said so."""
        moved, deadline = 0, time.monotonic() + limit
        while True:
            done, remaining = await brokers.drain(name, into=original, timeout=self._drain_pass)
            moved += done
            if not remaining:
                return moved
            if time.monotonic() > deadline:
                raise WorkloadError(
                    f"queue {name} did not drain into {original} within {limit:g} s; "
                    "it is left on the broker, and the split's record on the workload"
                )
