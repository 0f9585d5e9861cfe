"""A profile applied to a user's config: ``featureAdjustments`` in order, then ``config``.

The partial ``config`` is merged over the user's canonical config as the config's own
overrides are (a mapping merges key by key, anything else replaces: ``incoming: steal``
replaces the whole ``incoming`` section, as that shorthand means), then validated again.
A merge the config refuses (the profile's ``path_filter`` over the user's
``header_filter``) is a :class:`~.models.PolicyError` in one line. What the profile fixed
is kept in :class:`Fixes`, so the operator refuses a later request against it (a profile
turning steal into mirror: a steal subscribe is refused, naming it).
"""

from __future__ import annotations

import copy
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from podtap.core.config import ConfigError, IncomingMode, ResolvedConfig, validate_config
from podtap.core.policy.models import Change, PolicyError, ProfileSpec

__all__ = ["Effective", "Fixes", "FoundProfile", "apply_profile"]


@dataclass(frozen=True, slots=True, kw_only=True)
class FoundProfile:
    """A profile object as the operator found it; ``namespace`` None: cluster-wide."""

    name: str
    namespace: str | None
    spec: ProfileSpec

    @property
    def ref(self) -> str:
        """How a config selects it: ``NAME`` (cluster) or ``NS/NAME``."""
        return self.name if self.namespace is None else f"{self.namespace}/{self.name}"

    @property
    def label(self) -> str:
        return f"profile {self.ref}"


@dataclass(frozen=True, slots=True, kw_only=True)
class Fixes:
    """What a profile fixed (None: left to the user); ``profile`` names it in refusals."""

    profile: str
    incoming: IncomingMode | None = None
    dns: bool | None = None
    outgoing: bool | None = None


@dataclass(frozen=True, slots=True, kw_only=True)
class Effective:
    """The config a session runs with, and what its profile fixed (None: no profile)."""

    config: ResolvedConfig
    fixes: Fixes | None = None
    changes: tuple[str, ...] = ()


_INCOMING = {
    Change.INCOMING_MIRROR: IncomingMode.MIRROR,
    Change.INCOMING_STEAL: IncomingMode.STEAL,
    Change.INCOMING_OFF: IncomingMode.OFF,
}


def _adjust(doc: dict[str, Any], change: Change) -> None:
    network = doc["feature"]["network"]
    if change in _INCOMING:
        network["incoming"]["mode"] = _INCOMING[change].value
    elif change in (Change.DNS_REMOTE, Change.DNS_OFF):
        network["dns"] = {"enabled": change is Change.DNS_REMOTE, "filter": None}
    else:
        remote = change is Change.OUTGOING_REMOTE
        network["outgoing"].update(tcp=remote, udp=remote, filter=None)


def merge(base: Mapping[str, Any], over: Mapping[str, Any]) -> dict[str, Any]:
    """``over`` merged into a copy of ``base``: mappings key by key, other values replace."""
    out = copy.deepcopy(dict(base))
    for key, value in over.items():
        if isinstance(value, Mapping) and isinstance(out.get(key), Mapping):
            out[key] = merge(out[key], value)
        else:
            out[key] = copy.deepcopy(value)
    return out


def _fixes(config: ResolvedConfig, profile: FoundProfile) -> Fixes:
    net = config.feature.network
    changes = {a.change for a in profile.spec.feature_adjustments}
    feature = (profile.spec.config or {}).get("feature", {})
    given = feature.get("network", {}) if isinstance(feature, Mapping) else {}
    if not isinstance(given, Mapping):  # network: true changes nothing, false all three
        given = {} if given else {"incoming": False, "dns": False, "outgoing": False}
    # Only a mode the profile itself sets is fixed (a section with an http_filter alone
    # keeps the user's mode): the operator applies the profile over the defaults, and
    # must fix what the client, applying it over the user's config, ends up with.
    shown = given.get("incoming")
    incoming = bool(changes & set(_INCOMING)) or (
        "mode" in shown if isinstance(shown, Mapping) else "incoming" in given
    )
    dns = bool(changes & {Change.DNS_REMOTE, Change.DNS_OFF}) or "dns" in given
    outgoing = bool(changes & {Change.OUTGOING_REMOTE, Change.OUTGOING_OFF}) or "outgoing" in given
    return Fixes(
        profile=profile.label,
        incoming=net.incoming.mode if incoming else None,
        dns=net.dns.enabled if dns else None,
        outgoing=(net.outgoing.tcp or net.outgoing.udp) if outgoing else None,
    )


def apply_profile(config: ResolvedConfig, profile: FoundProfile | None) -> Effective:
    """The effective config of a session selecting ``profile`` (None: the user's own)."""
    if profile is None:
        return Effective(config=config)
    doc = config.model_dump(mode="json")
    changes = []
    for adjustment in profile.spec.feature_adjustments:
        _adjust(doc, adjustment.change)
        changes.append(f"featureAdjustments: {adjustment.change.value}")
    if profile.spec.config:
        doc = merge(doc, profile.spec.config)
        changes.append("config: " + ", ".join(sorted(_leaves(profile.spec.config))))
    try:
        effective, _ = validate_config(doc)
    except ConfigError as e:
        issues = "; ".join(f"{i.path}: {i.message}" for i in e.issues)
        raise PolicyError(f"{profile.label} does not fit your config: {issues}") from None
    return Effective(config=effective, fixes=_fixes(effective, profile), changes=tuple(changes))


def _leaves(doc: Mapping[str, Any], prefix: str = "") -> list[str]:
    out: list[str] = []
    for key, value in doc.items():
        path = f"{prefix}{key}"
        out += _leaves(value, path + ".") if isinstance(value, Mapping) and value else [path]
    return out
