"""Which policies apply to a session: scope, ``targetPath``, ``selector``, copy targets.

mirrord's target path is ``targetless`` or ``KIND/NAME`` with ``/container/C`` when a
container is named; ``targetPath`` is a wildcard pattern over it (:mod:`.globs`), so
``deploy/api`` does not match a run naming a container (``deploy/api*`` does). podtap writes
kinds canonically (``deployment``), mirrord writes ``deploy``: a pattern matching either
spelling applies. A ``selector`` matches the labels of the targeted object (never a targetless
session). A namespaced policy applies only to targets in its namespace; copy-target sessions
only see policies with ``appliesToCopyTargets``.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field

from podtap.core.policy.globs import glob_matches
from podtap.core.policy.models import PolicySpec

__all__ = ["FoundPolicy", "SessionTarget", "applicable"]

_MIRRORD_KIND = {"deployment": "deploy"}


@dataclass(frozen=True, slots=True, kw_only=True)
class FoundPolicy:
    """A policy object as the operator found it; ``namespace`` None: cluster-wide."""

    name: str
    namespace: str | None
    spec: PolicySpec
    kind: str = "PodtapPolicy"

    @property
    def label(self) -> str:
        """How refusals name it: ``policy NS/NAME`` or ``cluster policy NAME``."""
        if self.namespace is None:
            return f"cluster policy {self.name}"
        return f"policy {self.namespace}/{self.name}"


@dataclass(frozen=True, slots=True, kw_only=True)
class SessionTarget:
    """What a session targets; ``kind`` None: targetless. ``labels``: the target object's."""

    kind: str | None
    name: str | None = None
    container: str | None = None
    namespace: str
    labels: Mapping[str, str] = field(default_factory=dict)
    copy: bool = False

    def paths(self) -> tuple[str, ...]:
        """The target path, as podtap and (if different) as mirrord spell it."""
        if self.kind is None or self.name is None:
            return ("targetless",)
        tail = f"/{self.name}" + (f"/container/{self.container}" if self.container else "")
        kinds = dict.fromkeys((self.kind, _MIRRORD_KIND.get(self.kind, self.kind)))
        return tuple(k + tail for k in kinds)

    @property
    def path(self) -> str:
        return self.paths()[0]


def applies(policy: FoundPolicy, target: SessionTarget) -> bool:
    """Whether ``policy`` governs a session on ``target``."""
    spec = policy.spec
    if policy.namespace is not None and policy.namespace != target.namespace:
        return False
    if target.copy and not spec.applies_to_copy_targets:
        return False
    if spec.target_path is not None:
        pattern = spec.target_path
        if not any(glob_matches(pattern, p) for p in target.paths()):
            return False
    if spec.selector is not None:
        if target.kind is None:
            return False
        return spec.selector.selector().matches(target.labels)
    return True


def applicable(policies: Iterable[FoundPolicy], *, target: SessionTarget) -> list[FoundPolicy]:
    """The policies governing a session on ``target``, in the order given."""
    return [p for p in policies if applies(p, target)]
