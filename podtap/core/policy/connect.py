"""May a session start: the profile rules of the policies that apply, and copy-target
scale-down (``copy-target-scale-down`` in ``block``).

A profile is required when any policy has ``requireProfile``; a selected profile must be in
every ``profileAllowlist`` present (entries as the config names it: ``NAME`` for a cluster
profile, ``NS/NAME``). A session without a profile, where none is required, passes the
allowlists (they restrict which profile, not whether).
"""

from __future__ import annotations

from collections.abc import Sequence

from podtap.core.policy.matching import FoundPolicy
from podtap.core.policy.models import Blocked

__all__ = ["connect_refusal", "scale_down_refusal"]


def connect_refusal(
    policies: Sequence[FoundPolicy], *, profile: str | None, target: str
) -> str | None:
    """Why a session on ``target`` selecting ``profile`` is refused, or None."""
    for policy in policies:
        if policy.spec.require_profile and profile is None:
            return f"{policy.label} requires a profile on {target}: set profile or --profile"
    if profile is None:
        return None
    for policy in policies:
        allowed = policy.spec.profile_allowlist
        if allowed is not None and profile not in allowed:
            listed = ", ".join(allowed) or "none"
            return (
                f"{policy.label} does not allow profile {profile} on {target} (allowed: {listed})"
            )
    return None


def scale_down_refusal(policies: Sequence[FoundPolicy], *, target: str) -> str | None:
    """Why a copy-target session may not scale ``target``'s workload down, or None.
    ``policies``: those that apply to the copy-target session."""
    for policy in policies:
        if Blocked.COPY_TARGET_SCALE_DOWN in policy.spec.block:
            return (
                f"{policy.label} blocks copy-target scale-down of {target}: "
                "set feature.copy_target.scale_down false"
            )
    return None
