"""A split config read against the workload's pod template: what the operator will split.

:func:`plan_split` finds, for every queue of the config, the env bindings that name it
(:mod:`podtap.core.queues.envpatch`) and so the original queues; it renders every fallback
name once, so a template the broker would refuse fails before anything is made. The plan
then gives the split machine its originals, names and limits, turns a machine's
``original -> new name`` map into the env to set per container, and compiles a session's
``feature.split_queues`` entries into one filter per original queue, refusing an entry for a
queue the config does not have, or of another broker type.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from podtap.core.config.queues import QueueSplitConfig, QueueType
from podtap.core.queues.envpatch import EnvBinding, EnvPatchError, find_queue_env, patched_value
from podtap.core.queues.filters import FilterError, QueueFilter, compile_queue_filter
from podtap.core.queues.machine import Limits
from podtap.core.queues.models import QueueKind, QueueSpec, SplitConfig
from podtap.core.queues.names import FALLBACK_ID, render_queue_name

__all__ = ["QueuePlan", "SplitPlan", "plan_split"]

_TYPES = {
    QueueKind.SQS: QueueType.SQS,
    QueueKind.RMQ: QueueType.RMQ,
    QueueKind.KAFKA: QueueType.KAFKA,
}


@dataclass(frozen=True, slots=True)
class QueuePlan:
    spec: QueueSpec
    where: str
    bindings: tuple[EnvBinding, ...]

    @property
    def originals(self) -> tuple[str, ...]:
        return tuple(dict.fromkeys(b.queue for b in self.bindings))


@dataclass(frozen=True, slots=True)
class SplitPlan:
    config: SplitConfig
    queues: tuple[QueuePlan, ...]
    random: str = ""

    @property
    def originals(self) -> tuple[str, ...]:
        return tuple(o for q in self.queues for o in q.originals)

    @property
    def limits(self) -> Limits:
        c = self.config
        return Limits(
            restart_timeout=c.restart.timeout,
            wait_for_pods=c.restart.wait_for_pods,
            drain_timeout=c.drain_timeout,
            ttl=c.ttl,
        )

    def _kind(self, original: str) -> QueueKind:
        return next(q.spec.kind for q in self.queues if original in q.originals)

    @property
    def name(self) -> Callable[[str, str], str]:
        """``name(original, id)`` for :class:`~podtap.core.queues.machine.SplitMachine`."""

        def render(original: str, owner: str) -> str:
            return render_queue_name(
                self.config.tmp_name_template,
                kind=self._kind(original),
                original=original,
                session=owner,
                random=self.random,
            )

        return render

    def env(self, names: Mapping[str, str]) -> dict[str, dict[str, str]]:
        """container -> var -> value, with each original queue replaced by ``names[original]``
        (a ``PatchEnv.to`` for the workload, a ``GiveQueues.queues`` for a session)."""
        out: dict[str, dict[str, str]] = {}
        for queue in self.queues:
            for b in queue.bindings:
                value = patched_value(queue.spec.app_config, b, names[b.queue], where=queue.where)
                out.setdefault(b.container, {})[b.var] = value
        return out

    def original_env(self) -> dict[str, dict[str, str | None]]:
        """container -> var -> the value to restore (``None``: the var was added: remove it)."""
        out: dict[str, dict[str, str | None]] = {}
        for queue in self.queues:
            for b in queue.bindings:
                out.setdefault(b.container, {})[b.var] = b.value
        return out

    def session_filters(self, entries: Sequence[QueueSplitConfig]) -> dict[str, QueueFilter]:
        """original -> this session's filter on it: its ``message_filter`` and ``jq_filter``,
        both to match when both are set."""
        ids = [q.spec.id for q in self.queues]
        out: dict[str, QueueFilter] = {}
        for entry in entries:
            where = f"feature.split_queues.{entry.queue_id}"
            queue = next((q for q in self.queues if q.spec.id == entry.queue_id), None)
            if queue is None:
                raise FilterError(
                    f"{where}: {self._target()} has no queue {entry.queue_id!r} to split "
                    f"(it has {', '.join(ids)})"
                )
            if _TYPES[queue.spec.kind] is not entry.queue_type:
                raise FilterError(
                    f"{where}.queue_type: {entry.queue_type.value}, but {self._target()} "
                    f"splits it as {_TYPES[queue.spec.kind].value}"
                )
            compiled = compile_queue_filter(
                queue_id=entry.queue_id,
                kind=queue.spec.kind,
                message_filter=entry.message_filter,
                jq_filter=entry.jq_filter,
                mode=entry.queue_mode,
            )
            out.update(dict.fromkeys(queue.originals, compiled))
        return out

    def _target(self) -> str:
        ref = self.config.target_ref
        return f"{ref.kind.lower()}/{ref.name}"


def plan_split(
    config: SplitConfig,
    pod_spec: Mapping[str, Any],
    *,
    resolved: Mapping[str, Mapping[str, str]] | None = None,
    random: str = "",
) -> SplitPlan:
    """Read ``config`` against ``pod_spec`` (``resolved``: the running pod's values of vars
    set from ConfigMaps and Secrets); raises EnvPatchError or QueueNameError in one line."""
    queues: list[QueuePlan] = []
    seen: dict[str, str] = {}
    for index, spec in enumerate(config.queues):
        where = f"spec.queues[{index}].appConfig"
        found = find_queue_env(spec.app_config, pod_spec, where=where, resolved=resolved)
        plan = QueuePlan(spec, where, tuple(found))
        for original in plan.originals:
            if original in seen:
                raise EnvPatchError(
                    f"{where}: queue {original!r} is already split by {seen[original]}"
                )
            seen[original] = where
        queues.append(plan)
    split = SplitPlan(config, tuple(queues), random)
    for original in split.originals:
        split.name(original, FALLBACK_ID)  # a template the broker would refuse fails here
    return split
