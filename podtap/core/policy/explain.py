"""``podtap policy explain``: what applies to a session and what each blocks or changes.

One pure function over what the operator would see (the policies and profiles found, the
target, the user's config, the profile selected), giving data (``-o json``) and text lines;
the verdicts come from the same functions the operator enforces with.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from typing import Any

from podtap.core.config import ResolvedConfig
from podtap.core.exec_spec import wire_filter
from podtap.core.policy.connect import connect_refusal, scale_down_refusal
from podtap.core.policy.incoming import subscribe_refusal
from podtap.core.policy.matching import FoundPolicy, SessionTarget, applicable
from podtap.core.policy.models import PolicyError, PolicySpec
from podtap.core.policy.profiles import FoundProfile, apply_profile
from podtap.core.protocol import IncomingMode

__all__ = ["Explanation", "explain", "policy_effects"]


@dataclass(frozen=True, slots=True, kw_only=True)
class Applied:
    """One policy or profile that applies, and what it blocks or changes (one line each)."""

    name: str
    effects: list[str]


@dataclass(frozen=True, slots=True, kw_only=True)
class Explanation:
    target: str
    policies: list[Applied]
    profile: Applied | None
    refusals: list[str] = field(default_factory=list)
    config: dict[str, Any] = field(default_factory=dict)

    def to_json(self) -> dict[str, Any]:
        return asdict(self)

    def lines(self) -> list[str]:
        out = [f"target {self.target}"]
        if not self.policies:
            out.append("no policy applies")
        for item in (*self.policies, *([self.profile] if self.profile else [])):
            out.append(item.name)
            out += [f"  {e}" for e in item.effects]
        out += [f"refused: {r}" for r in self.refusals] or ["allowed"]
        return out


def policy_effects(spec: PolicySpec) -> list[str]:
    """What a policy blocks or changes, one line each (nothing: ``no effect``)."""
    out = [f"blocks {b.value}" for b in spec.block]
    if spec.network.incoming.http_filter.header_filter is not None:
        pattern = spec.network.incoming.http_filter.header_filter
        out.append(f"requires a steal's HTTP filter to hold a header filter matching {pattern!r}")
    if spec.env.exclude:
        out.append("excludes env " + ", ".join(spec.env.exclude))
    for name, items in (
        ("notFound", spec.fs.not_found),
        ("local", spec.fs.local),
        ("readOnly", spec.fs.read_only),
    ):
        if items:
            out.append(f"fs {name}: " + ", ".join(items))
    outgoing = spec.network.outgoing
    if outgoing.allow:
        out.append(f"outgoing: only {len(outgoing.allow)} allow rule(s)")
    if outgoing.block:
        out.append(f"outgoing: {len(outgoing.block)} block rule(s)")
    if spec.require_profile:
        out.append("requires a profile")
    if spec.profile_allowlist is not None:
        out.append("allows profiles: " + (", ".join(spec.profile_allowlist) or "none"))
    return out or ["no effect"]


def explain(
    policies: Sequence[FoundPolicy],
    profiles: Sequence[FoundProfile],
    *,
    target: SessionTarget,
    config: ResolvedConfig,
    profile: str | None,
) -> Explanation:
    """What the operator would decide for a session on ``target`` with ``config``."""
    found = applicable(policies, target=target)
    applied = [Applied(name=p.label, effects=policy_effects(p.spec)) for p in found]
    refusals: list[str] = []
    chosen = None if profile is None else next((p for p in profiles if p.ref == profile), None)
    if profile is not None and chosen is None:
        refusals.append(f"profile {profile} not found")
    try:
        effective = apply_profile(config, chosen)
    except PolicyError as e:
        refusals.append(str(e))
        effective = apply_profile(config, None)
    shown = None
    if chosen is not None:
        shown = Applied(name=chosen.label, effects=list(effective.changes) or ["no change"])
    refusal = connect_refusal(found, profile=profile, target=target.path)
    refusals += [refusal] if refusal else []
    if target.copy and effective.config.feature.copy_target.scale_down:
        refusal = scale_down_refusal(found, target=target.path)
        refusals += [refusal] if refusal else []
    incoming = effective.config.feature.network.incoming
    if incoming.mode.value != "off":
        refusal = subscribe_refusal(
            found,
            mode=IncomingMode(incoming.mode.value),
            http_filter=wire_filter(incoming.http_filter),
            target=target.path,
            fixes=effective.fixes,
        )
        refusals += [f"subscribe: {refusal}"] if refusal else []
    return Explanation(
        target=target.path,
        policies=applied,
        profile=shown,
        refusals=refusals,
        config=effective.config.model_dump(mode="json"),
    )
