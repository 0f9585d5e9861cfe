"""Which resource types exist right now: the built-ins plus those CRDs have added.

Discovery and routing ask the registry; creating, updating or deleting a CRD changes it at
once, so a CRD's resources are served (and discovered) as soon as it is Established, as on a
real server. Kept apart from the store so discovery never walks objects.
"""

from __future__ import annotations

from collections.abc import Iterable

from podtap.backends.local.kubeapi.resources import BUILTINS, GROUP_ORDER, ResourceType


class Registry:
    """Resource types by group/version/plural, built-in first, then custom."""

    def __init__(self, *, builtins: Iterable[ResourceType] = BUILTINS) -> None:
        self._builtin = {(r.group, r.version, r.plural): r for r in builtins}
        self._custom: dict[str, tuple[ResourceType, ...]] = {}  # CRD name -> its versions

    def get(self, *, group: str, version: str, plural: str) -> ResourceType | None:
        key = (group, version, plural)
        found = self._builtin.get(key)
        if found is not None:
            return found
        for types in self._custom.values():
            for rt in types:
                if (rt.group, rt.version, rt.plural) == key:
                    return rt
        return None

    def all(self) -> list[ResourceType]:
        return [*self._builtin.values(), *(rt for ts in self._custom.values() for rt in ts)]

    def for_kind(self, *, api_version: str, kind: str) -> ResourceType | None:
        for rt in self.all():
            if rt.api_version == api_version and rt.kind == kind:
                return rt
        return None

    def set_custom(self, *, crd_name: str, types: tuple[ResourceType, ...]) -> None:
        """Serve (or stop serving, with no types) the resources a CRD defines."""
        if types:
            self._custom[crd_name] = types
        else:
            self._custom.pop(crd_name, None)

    def groups(self) -> list[tuple[str, list[str]]]:
        """(group, versions) pairs in discovery order; preferred version first."""
        versions: dict[str, list[str]] = {}
        for rt in self.all():
            vs = versions.setdefault(rt.group, [])
            if rt.version not in vs:
                vs.append(rt.version)
        known = [g for g in GROUP_ORDER if g in versions]
        extra = sorted(g for g in versions if g not in GROUP_ORDER)
        return [(g, versions[g]) for g in known + extra]

    def in_group_version(self, *, group: str, version: str) -> list[ResourceType]:
        return [rt for rt in self.all() if rt.group == group and rt.version == version]
