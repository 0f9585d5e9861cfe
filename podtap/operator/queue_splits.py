"""Queue splits in the operator: which sessions split which workload's queues.

A connect with ``feature.split_queues`` is admitted here before its target is resolved:
the workload's split config (a ``PodtapSplitConfig``, or mirrord's ``MirrordSplitConfig``,
in the target's namespace, whose ``targetRef`` is the session's deployment or statefulset)
is read against the workload's pod template (:func:`podtap.core.queues.plan_split`), the
session's filters are compiled, and the session joins the workload's split
(:class:`~podtap.operator.queue_split_run.WorkloadSplit`, one per workload). The connect
goes on once the session has its temporary queues; the pods it then resolves to run on the
fallback queues, and the env the session reads is rewritten to name its own queues. Any
error before that (no config, an env var the pod lacks, a filter that does not compile, a
broker out of reach, pods that do not roll out) refuses the connect with one line, and the
workload is left as it was. The session leaves when its record is forgotten.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Callable, Sequence
from typing import Any

from podtap.backends.base import ClusterBackend, ResolvedTarget
from podtap.core.config.queues import QueueSplitConfig
from podtap.core.ids import SessionId, format_session_id
from podtap.core.protocol import EnvResponse, Payload
from podtap.core.queues import (
    EnvPatchError,
    FilterError,
    QueueFilter,
    QueueNameError,
    SplitConfig,
    SplitConfigError,
    SplitPlan,
    parse_split_config,
    plan_split,
)
from podtap.core.queues.client_config import BrokerConfigError
from podtap.core.queues.crds import SPLIT_KINDS
from podtap.core.queues.wire import encode_split_request
from podtap.net.tasks import TaskSet
from podtap.operator.broker_configs import resolve_client_configs
from podtap.operator.metrics import Metrics
from podtap.operator.queue_split_brokers import ClientFactory
from podtap.operator.queue_split_leftovers import Leftovers
from podtap.operator.queue_split_run import SplitFailed, WorkloadSplit
from podtap.operator.queue_split_workload import Workload, WorkloadError
from podtap.operator.relay import Screening
from podtap.operator.settings import OperatorError

__all__ = ["QueueSplits", "SplitRefused", "SplitScreening"]

log = logging.getLogger(__name__)
Key = tuple[str, str, str]  # namespace, kind, name
REMEMBERED = 60.0  # seconds a refusal is remembered, for the client's question why


class SplitRefused(OperatorError):
    """A connect whose queue split cannot start (one line saying why)."""

    def __init__(self, message: str) -> None:
        super().__init__(409, message)


class QueueSplits:
    def __init__(
        self,
        backend: ClusterBackend,
        *,
        audit: Callable[..., None],
        metrics: Metrics | None = None,
        clients: ClientFactory | None = None,
        on_fail: Callable[[SessionId, str], None] = lambda session, why: None,
        users: Callable[[SessionId], str | None] | None = None,
        drain_pass: float = 5.0,
        namespace: str = "",
    ) -> None:
        self.backend, self.audit, self.metrics = backend, audit, metrics
        self.namespace = namespace  # the operator's: where named clientConfigs are read
        self.on_fail, self.users = on_fail, users  # users: who opened a session, for status
        self._clients, self._drain_pass = clients, drain_pass
        self.splits: dict[Key, WorkloadSplit] = {}
        self.sessions: dict[SessionId, WorkloadSplit] = {}
        self._counted: dict[tuple[Key, SessionId | None], int] = {}
        self._refusals: dict[tuple[Key, str], tuple[float, str]] = {}
        self._tasks = TaskSet()
        self.leftovers = Leftovers(
            backend, config_of=self._config, clients=clients, audit=audit, drain_pass=drain_pass
        )

    def start(self) -> None:
        """Finish, in the background, the splits an operator that died left running."""
        self._tasks.spawn(self.leftovers.sweep(), name="leftover queue splits")

    async def admit(
        self,
        session: SessionId,
        resolved: ResolvedTarget,
        entries: Sequence[QueueSplitConfig],
    ) -> ResolvedTarget:
        """``resolved`` once ``session`` has its queues, resolved again (the split may have
        rolled the pods out); SplitRefused (one line) if the split cannot start."""
        if not entries:
            return resolved
        try:
            await self._join(session, _key(resolved), entries)
        except (SplitFailed, WorkloadError) as exc:
            raise self._refused(resolved, entries, exc) from None
        return await self.backend.resolve(resolved.target, namespace=resolved.namespace)

    async def check(self, resolved: ResolvedTarget, entries: Sequence[QueueSplitConfig]) -> None:
        """What :meth:`admit` would refuse, changing nothing: its last refusal of the same
        request (a client asks why its upgrade was refused), else the config, the pod's env
        and the filters read again."""
        if not entries:
            return
        when, why = self._refusals.get((_key(resolved), encode_split_request(entries)), (0, ""))
        if time.monotonic() - when < REMEMBERED:
            raise SplitRefused(why)
        try:
            split = self.splits.get(_key(resolved))
            _filters(split.plan if split else await self._plan(_key(resolved)), entries)
        except (SplitFailed, WorkloadError) as exc:
            raise self._refused(resolved, entries, exc) from None

    def _refused(
        self, resolved: ResolvedTarget, entries: Sequence[QueueSplitConfig], exc: Exception
    ) -> SplitRefused:
        why = str(exc)
        why = why if why.startswith("feature.split_queues") else f"feature.split_queues: {why}"
        self._refusals[(_key(resolved), encode_split_request(entries))] = (time.monotonic(), why)
        return SplitRefused(why)

    async def _plan(self, key: Key) -> SplitPlan:
        workload = Workload(self.backend, kind=key[1], namespace=key[0], name=key[2])
        config = await self._config(workload)
        try:
            return plan_split(config, await workload.pod_spec())
        except (EnvPatchError, QueueNameError) as exc:
            raise SplitFailed(str(exc)) from None

    async def _join(
        self, session: SessionId, key: Key, entries: Sequence[QueueSplitConfig]
    ) -> None:
        split = self.splits.get(key)
        if split is None:
            await self.leftovers.finish(key)  # what an earlier operator left of its split
            plan = await self._plan(key)
            split = self.splits.get(key)  # another connect may have started it meanwhile
        if split is None:
            filters = _filters(plan, entries)  # before anything starts
            split = WorkloadSplit(
                plan,
                Workload(self.backend, kind=key[1], namespace=key[0], name=key[2]),
                clients=self._clients,
                audit=self.audit,
                on_fail=self.on_fail,
                drain_pass=self._drain_pass,
            )
            self.splits[key] = split
            split.start()
            self._tasks.spawn(self._forget_when_idle(key, split), name=f"split {split.label}")
        else:
            filters = _filters(split.plan, entries)
        self.sessions[session] = split
        try:
            await split.join(session, filters, asked=entries)
        except SplitFailed:
            self.sessions.pop(session, None)
            raise
        except BaseException:  # the connect went away while its queues were being made
            self.leave(session)
            raise

    async def _config(self, workload: Workload) -> SplitConfig:
        found: list[tuple[str, dict[str, Any]]] = []
        for kind in SPLIT_KINDS:
            try:
                objs = await self.backend.list_resources(kind.kind, namespace=workload.namespace)
            except Exception as exc:  # its CRD not installed: none of that kind
                log.debug("no %s: %s", kind.kind, exc)
                continue
            found += [(f"{kind.kind}/{o['metadata']['name']}", o) for o in objs]
        for label, obj in sorted(found, key=lambda f: f[0]):
            spec = obj.get("spec") or {}
            ref = spec.get("targetRef") or {}
            if (
                str(ref.get("kind", "")).lower() == workload.kind
                and ref.get("name") == workload.name
            ):
                try:
                    config = parse_split_config(spec)
                except SplitConfigError as exc:
                    raise SplitFailed(f"{label}: {exc}") from None
                try:
                    return await resolve_client_configs(
                        self.backend, config, namespace=self.namespace, label=label
                    )
                except BrokerConfigError as exc:
                    raise SplitFailed(str(exc)) from None
        raise SplitFailed(
            f"no PodtapSplitConfig in namespace {workload.namespace!r} splits {workload.label} "
            "(ask an admin for one: docs/queues.md)"
        )

    async def _forget_when_idle(self, key: Key, split: WorkloadSplit) -> None:
        """Drop the workload's split once it is idle again (its next session starts anew)."""
        while not split.idle.is_set():  # a session may join again before this runs
            await split.idle.wait()
        self.count()  # what it routed, before it goes
        if self.splits.get(key) is split:
            del self.splits[key]
        await split.close()

    def leave(self, session: SessionId) -> None:
        """``session`` is gone: its queues are drained back and deleted, and the last one to
        leave restores the workload."""
        split = self.sessions.pop(session, None)
        if split is not None:
            split.leave(session)

    def screen(self, session: SessionId, payload: Payload) -> Payload:
        """The pod's env as the session sees it: its queues' vars name its own queues."""
        split = self.sessions.get(session)
        if split is None or not isinstance(payload, EnvResponse):
            return payload
        given = split.env.get(session)
        if not given:
            return payload
        env = dict(payload.env)
        for values in given.values():
            env.update(values)
        return EnvResponse(
            request=payload.request, env=env, error=payload.error, mounts=payload.mounts
        )

    def count(self) -> None:
        """Add to the metrics what the forwarders routed since the last count."""
        if self.metrics is None:
            return
        for key, split in self.splits.items():
            for who, total in split.brokers.counts().items():
                done = self._counted.get((key, who), 0)
                if total > done:
                    label = "fallback" if who is None else format_session_id(who)
                    self.metrics.queue_messages.labels(split.label, label).inc(total - done)
                    self._counted[(key, who)] = total

    def status(self) -> list[dict[str, Any]]:
        """One row per workload split (``podtap operator status``, ``podtap queues status``)."""
        return [split.status(users=self.users) for _, split in sorted(self.splits.items())]

    async def close(self, *, grace: float = 30.0) -> None:
        """Every split ended as if its sessions had left (the workload restored, its queues
        drained back), waiting up to ``grace`` seconds: nothing of a split outlives the
        operator that ran it (what one killed leaves, its record, the next finishes)."""
        for session in list(self.sessions):
            self.leave(session)
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(grace):
                for split in list(self.splits.values()):
                    await split.idle.wait()
        await self._tasks.close()
        for split in list(self.splits.values()):
            await split.close()
        self.splits.clear()


def _key(resolved: ResolvedTarget) -> Key:
    return resolved.namespace, resolved.target.kind, resolved.target.name


def _filters(plan: SplitPlan, entries: Sequence[QueueSplitConfig]) -> dict[str, QueueFilter]:
    try:
        return plan.session_filters(entries)
    except FilterError as exc:
        raise SplitFailed(str(exc)) from None


class SplitScreening:
    """The policies' screening, then the split's env (what :class:`Attachment` screens by)."""

    def __init__(self, policies: Screening, splits: QueueSplits) -> None:
        self.policies, self.splits = policies, splits

    def screen(self, session: SessionId, payload: Payload) -> Payload:
        return self.splits.screen(session, self.policies.screen(session, payload))

    def guard(self, session: SessionId, payload: Payload) -> Payload | None:
        return self.policies.guard(session, payload)
