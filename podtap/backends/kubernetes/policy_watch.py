"""A live cache of the cluster's policies and profiles, for the operator to decide with.

It watches the CustomResourceDefinitions, and for each policy or profile kind whose CRD is
established (podtap's four; mirrord's four when the chart installed them) it watches that
kind (list, then watch from its resourceVersion; :mod:`.watch` resumes and lists again on
410). A kind the cluster lacks costs nothing until its CRD appears; a CRD deleted drops its
objects. Objects go through :class:`~.policy_book.PolicyBook` (a bad one is logged once and
skipped). :meth:`PolicyWatch.snapshot` is what the core's decisions take;
:meth:`PolicyWatch.changed` returns as soon as anything changed. Nothing polls.

Without the right to watch CRDs, each kind is watched as the cluster has it at start (a CRD
installed later is seen after a restart), and that is logged once.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Coroutine
from typing import TYPE_CHECKING, Any

from podtap.backends.kubernetes.discovery import Discovery, ResourceType
from podtap.backends.kubernetes.policy_book import PolicyBook, PolicySnapshot
from podtap.backends.kubernetes.resources import Resources
from podtap.backends.kubernetes.rest import ApiError, Rest
from podtap.backends.kubernetes.watch import watch
from podtap.core.policy.crds import KINDS, CrdKind
from podtap.net.tasks import TaskSet

if TYPE_CHECKING:
    from podtap.backends.kubernetes.backend import KubernetesBackend

__all__ = ["CRDS", "PolicyWatch", "PolicyWatchFailed", "kind_type", "served_type"]

log = logging.getLogger(__name__)
CRDS = ResourceType(
    "apiextensions.k8s.io", "v1", "customresourcedefinitions", "CustomResourceDefinition", False
)
#: CRD name -> the kind it defines
WANTED = {f"{k.plural}.{k.group}": k for k in KINDS}


def kind_type(kind: CrdKind) -> ResourceType:
    """The resource of ``kind`` at the version the chart installs."""
    return ResourceType(kind.group, kind.version, kind.plural, kind.kind, kind.namespaced)


def served_type(crd: dict[str, Any], kind: CrdKind) -> ResourceType | None:
    """What to watch for ``crd`` (None: not established yet, or no version served): the
    version podtap knows when served, else the first one served."""
    conditions = (crd.get("status") or {}).get("conditions") or []
    if not any(c.get("type") == "Established" and c.get("status") == "True" for c in conditions):
        return None
    spec = crd.get("spec") or {}
    served = [str(v["name"]) for v in spec.get("versions") or () if v.get("served")]
    if not served:
        return None
    version = kind.version if kind.version in served else served[0]
    names = spec.get("names") or {}
    return ResourceType(
        kind.group,
        version,
        str(names.get("plural", kind.plural)),
        str(names.get("kind", kind.kind)),
        spec.get("scope", "Namespaced") == "Namespaced",
    )


class PolicyWatchFailed(RuntimeError):
    """A watch ended on an error retrying cannot mend (unauthorised, a bug)."""


class PolicyWatch:
    """``async with PolicyWatch(rest) as cache: await cache.synced()``, then
    ``cache.snapshot()`` and ``await cache.changed(since=snapshot.version)``."""

    def __init__(self, rest: Rest) -> None:
        self._rest = rest
        self._resources = Resources(rest, Discovery(rest))  # listings by type: no discovery
        self._book = PolicyBook()
        self._tasks = TaskSet()
        self._kinds: dict[str, tuple[ResourceType, asyncio.Task[None]]] = {}
        self._pending: set[str] = set()  # kinds whose first listing is not in yet
        self._crds_listed = False
        self._wake = asyncio.Event()
        self._failed: PolicyWatchFailed | None = None

    @classmethod
    def for_backend(cls, backend: KubernetesBackend) -> PolicyWatch:
        """On the API client of ``backend`` (which must outlive the cache)."""
        return cls(backend._rest)

    async def __aenter__(self) -> PolicyWatch:
        self._tasks.spawn(self._guarded(self._watch_crds(), CRDS), name="policy-watch crds")
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self._tasks.close()

    def snapshot(self) -> PolicySnapshot:
        return self._book.snapshot()

    async def changed(self, *, since: int) -> PolicySnapshot:
        """The snapshot, as soon as its version is not ``since``."""
        while self._book.version == since:
            await self._wait()
        return self.snapshot()

    async def synced(self) -> PolicySnapshot:
        """The snapshot once every kind served has been listed (before that, a policy may
        be missing: the operator waits for this before deciding)."""
        while not self._crds_listed or self._pending:
            await self._wait()
        return self.snapshot()

    @property
    def watched(self) -> list[str]:
        """The kinds watched now."""
        return sorted(self._kinds)

    async def _wait(self) -> None:
        if self._failed is not None:
            raise self._failed
        await self._wake.wait()
        if self._failed is not None:
            raise self._failed

    async def _guarded(self, watching: Coroutine[Any, Any, None], rt: ResourceType) -> None:
        """A watch that ends other than by cancellation fails every wait (and is logged)."""
        try:
            await watching
        except Exception as exc:
            self._failed = PolicyWatchFailed(
                f"policies: the watch of {rt.plural}.{rt.group} failed: {exc}"
            )
            self._notify()
            raise

    def _notify(self) -> None:
        self._wake.set()
        self._wake = asyncio.Event()

    def _start(self, rt: ResourceType) -> None:
        self._pending.add(rt.kind)
        watching = self._guarded(self._watch_kind(rt), rt)
        task = self._tasks.spawn(watching, name=f"policy-watch {rt.plural}")
        self._kinds[rt.kind] = (rt, task)

    def _stop(self, kind: str) -> None:
        if (found := self._kinds.pop(kind, None)) is not None:
            found[1].cancel()
        self._pending.discard(kind)
        self._book.drop_kind(kind)
        self._notify()

    async def _watch_crds(self) -> None:
        try:
            async for event in watch(self._rest, self._resources, CRDS):
                if event.type == "BOOKMARK":
                    self._crds_listed = True
                    self._notify()
                    continue
                kind = WANTED.get(str((event.object.get("metadata") or {}).get("name")))
                if kind is None:
                    continue
                rt = None if event.type == "DELETED" else served_type(event.object, kind)
                current = self._kinds.get(kind.kind)
                if current is not None and current[0] == rt:
                    continue
                self._stop(kind.kind)
                if rt is not None:
                    self._start(rt)
        except ApiError as exc:
            if exc.code != 403:
                raise
            log.warning(
                "policies: may not watch CustomResourceDefinitions (%s); watching each policy "
                "and profile kind the cluster serves now (one installed later needs a restart)",
                exc,
            )
            for kind in KINDS:
                self._start(kind_type(kind))
            self._crds_listed = True
            self._notify()

    async def _watch_kind(self, rt: ResourceType) -> None:
        try:
            async for event in watch(self._rest, self._resources, rt):
                before = self._book.version
                if event.type == "BOOKMARK":
                    self._pending.discard(rt.kind)
                elif event.type == "DELETED":
                    self._book.delete(event.object)
                elif (line := self._book.put(event.object)) is not None:
                    log.warning("%s", line)
                if self._book.version != before or event.type == "BOOKMARK":
                    self._notify()
        except ApiError as exc:
            if exc.code == 403:
                log.error(
                    "policies: may not watch %s.%s (%s): none of them is enforced; the "
                    "operator needs get, list and watch on them",
                    rt.plural,
                    rt.group,
                    exc,
                )
            elif exc.code != 404:  # 404: not served (its CRD is gone or never was)
                raise
            if (found := self._kinds.get(rt.kind)) is not None and found[0] == rt:
                del self._kinds[rt.kind]
            self._book.drop_kind(rt.kind)
            self._pending.discard(rt.kind)
            self._notify()
