"""The client's half of a profile: the operator's profile applied to the user's config.

The operator answers a connect with the profile it found (:mod:`.profile_wire`); the client
applies it with the same :func:`~.profiles.apply_profile` and runs with the result, so it
no longer asks for what the profile forbids (the operator still refuses it). What the
connect itself carried is fixed by then: the target, its namespace, the session key,
``on_concurrent_steal``, the profile and the kube context. A profile changing one of them
cannot be applied, and says so (:class:`~.models.PolicyError`). The ports a steal plan
names were sent with the connect too; the operator does not check them against a profile
that leaves no steal, and the ports a profile adds to a steal are checked when they are
subscribed.
"""

from __future__ import annotations

import json
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from typing import Any

from podtap.core.config import ResolvedConfig
from podtap.core.policy.models import PolicyError
from podtap.core.policy.profiles import FoundProfile, apply_profile

__all__ = ["AT_CONNECT", "Applied", "apply_at_connect"]

AT_CONNECT = (
    "target",
    "key",
    "profile",
    "kube_context",
    "feature.network.incoming.on_concurrent_steal",
)
"""Config keys (and everything under them) a connect carries before the profile is known."""

_SHORT = {
    "feature.network.incoming.mode": "incoming",
    "feature.network.dns.enabled": "dns",
    "feature.network.outgoing.tcp": "outgoing tcp",
    "feature.network.outgoing.udp": "outgoing udp",
}
_SHOWN = 4  # changes named in the one line; the rest are counted


@dataclass(frozen=True, slots=True, kw_only=True)
class Applied:
    """The config a run uses under its profile, and the line that tells the user so."""

    config: ResolvedConfig
    line: str


def apply_at_connect(config: ResolvedConfig, profile: FoundProfile) -> Applied:
    """``profile`` applied to the user's ``config``; PolicyError (one line) if it does not
    fit, or changes what the connect already carried."""
    effective = apply_profile(config, profile).config
    diff = list(_diff(config.model_dump(mode="json"), effective.model_dump(mode="json")))
    changed = [key for key, _, _ in diff]
    fixed = sorted({k for k in AT_CONNECT for c in changed if c == k or c.startswith(k + ".")})
    if fixed:
        raise PolicyError(
            f"{profile.label} sets {', '.join(fixed)}, which podtap sends when the session "
            "opens, before it knows the profile: it cannot be applied; ask its owner to "
            "leave that out, or run without the profile"
        )
    shown = [f"{_SHORT.get(k, k)} {_text(was)} -> {_text(now)}" for k, was, now in diff]
    if len(shown) > _SHOWN:
        shown[_SHOWN:] = [f"and {len(shown) - _SHOWN} more (podtap policy explain lists them)"]
    return Applied(
        config=effective,
        line=f"{profile.label}: " + (", ".join(shown) or "your config already is what it sets"),
    )


def _diff(
    before: Mapping[str, Any], after: Mapping[str, Any], prefix: str = ""
) -> Iterator[tuple[str, Any, Any]]:
    """``(path, before, after)`` of each value that differs, down to where both are
    mappings with keys (``override {} -> {"B":"1"}`` is one change)."""
    for key in sorted(before.keys() | after.keys()):
        was, now = before.get(key), after.get(key)
        if isinstance(was, Mapping) and isinstance(now, Mapping) and was and now:
            yield from _diff(was, now, f"{prefix}{key}.")
        elif was != now:
            yield f"{prefix}{key}", was, now


def _text(value: Any) -> str:
    if isinstance(value, bool):
        return "on" if value else "off"
    if value is None:
        return "unset"
    return value if isinstance(value, str) else json.dumps(value, separators=(",", ":"))
