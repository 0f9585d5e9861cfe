"""The checks every backend makes when it resolves a target, in the same words.

`refuse_unresolvable` turns away what a backend cannot resolve (targetless, or a kind it
does not run); `first_ready` picks the pod a session runs next to. The local backend, its
fake and the Kubernetes backend share them, so a user reads one wording everywhere.
"""

from __future__ import annotations

from collections.abc import Collection, Iterable
from typing import Protocol, TypeVar

from podtap.backends.base import TargetError, TargetKind, TargetNotFound, TargetNotReady, TargetRef
from podtap.core.targets import unresolvable_reason

__all__ = ["first_ready", "refuse_unresolvable"]


class _Ready(Protocol):
    @property
    def ready(self) -> bool: ...


P = TypeVar("P", bound=_Ready)


def refuse_unresolvable(
    target: TargetRef, *, resolvable: Collection[TargetKind], backend: str
) -> None:
    """Raise the refusal for a target `backend` cannot resolve (targetless, or a kind it
    does not run yet)."""
    if target.kind == "targetless":
        raise TargetNotFound("a targetless session has no pod to resolve")
    reason = unresolvable_reason(target, resolvable=resolvable, backend=backend)
    if reason is not None:
        raise TargetError(reason)


def first_ready(
    target: TargetRef, namespace: str, pods: Iterable[P], *, look: str = "podtap local get pods"
) -> P:
    """The first ready one of `pods`; raises TargetNotReady saying how to look (`look`)."""
    for pod in pods:
        if pod.ready:
            return pod
    raise TargetNotReady(
        f"{target} has no ready pod in namespace {namespace!r}; check it with `{look}`"
    )
