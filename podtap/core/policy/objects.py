"""Policy and profile objects as the API server returns them, into what the decisions take.

The kind says the scope: a cluster kind is cluster-wide even when its manifest carries a
``metadata.namespace`` (mirrord's own example does; the API server drops it), a namespaced
kind governs its namespace only. A bad spec raises :class:`~.models.PolicyError` naming the
object and the field, so the operator can report it once and skip the object.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any, Final

from podtap.core.policy.matching import FoundPolicy, SessionTarget
from podtap.core.policy.models import PolicyError, parse_policy_spec, parse_profile_spec
from podtap.core.policy.profiles import FoundProfile
from podtap.core.targets import TargetRef

__all__ = [
    "POLICY_KINDS",
    "PROFILE_KINDS",
    "policy_from_object",
    "profile_from_object",
    "select_profile",
    "session_target",
]

#: kind -> namespaced
POLICY_KINDS: Final = {
    "PodtapPolicy": True,
    "PodtapClusterPolicy": False,
    "MirrordPolicy": True,
    "MirrordClusterPolicy": False,
}
PROFILE_KINDS: Final = {
    "PodtapProfile": True,
    "PodtapClusterProfile": False,
    "MirrordProfile": True,
    "MirrordClusterProfile": False,
}


def _scope(obj: Mapping[str, Any], kinds: Mapping[str, bool]) -> tuple[str, str, str | None]:
    kind, meta = obj.get("kind", ""), obj.get("metadata") or {}
    if kind not in kinds:
        raise PolicyError(f"{kind or 'an object without kind'} is not one of {', '.join(kinds)}")
    name = str(meta.get("name", ""))
    namespace = meta.get("namespace") if kinds[kind] else None
    if kinds[kind] and not namespace:
        raise PolicyError(f"{kind} {name} has no metadata.namespace: it is a namespaced kind")
    return kind, name, namespace


def policy_from_object(obj: Mapping[str, Any]) -> FoundPolicy:
    """A ``PodtapPolicy``/``...ClusterPolicy`` (or mirrord's) object as a :class:`FoundPolicy`."""
    kind, name, namespace = _scope(obj, POLICY_KINDS)
    shown = f"{namespace}/{name}" if namespace else name
    spec = parse_policy_spec(obj.get("spec") or {}, name=shown)
    return FoundPolicy(name=name, namespace=namespace, spec=spec, kind=kind)


def profile_from_object(obj: Mapping[str, Any]) -> FoundProfile:
    """A ``PodtapProfile``/``...ClusterProfile`` (or mirrord's) object as a
    :class:`FoundProfile`."""
    _, name, namespace = _scope(obj, PROFILE_KINDS)
    shown = f"{namespace}/{name}" if namespace else name
    spec = parse_profile_spec(obj.get("spec") or {}, name=shown)
    return FoundProfile(name=name, namespace=namespace, spec=spec)


def select_profile(profiles: Iterable[FoundProfile], ref: str) -> FoundProfile | None:
    """The profile a config's ``profile: NAME`` (cluster) or ``NS/NAME`` selects."""
    return next((p for p in profiles if p.ref == ref), None)


def session_target(
    ref: TargetRef | None,
    *,
    namespace: str,
    labels: Mapping[str, str] | None = None,
    copy: bool = False,
) -> SessionTarget:
    """The :class:`SessionTarget` of a session on ``ref`` (None or targetless: no target)."""
    if ref is None or ref.kind == "targetless":
        return SessionTarget(kind=None, namespace=namespace, copy=copy)
    return SessionTarget(
        kind=ref.kind,
        name=ref.name,
        container=ref.container,
        namespace=namespace,
        labels=dict(labels or {}),
        copy=copy,
    )
