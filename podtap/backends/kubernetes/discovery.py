"""Kind -> group, version, plural and scope, from the API server's discovery (cached).

The first look-up reads ``/api/v1`` and the preferred version of every group under
``/apis``; a kind not found there is looked up once more after a fresh read (a
CustomResourceDefinition created since), then refused in one line.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass

from podtap.backends.kubernetes.rest import ApiError, Rest

__all__ = ["Discovery", "ResourceType", "UnknownKind"]


class UnknownKind(LookupError):
    """The cluster serves no resource of this kind."""


@dataclass(frozen=True, slots=True)
class ResourceType:
    group: str
    version: str
    plural: str
    kind: str
    namespaced: bool

    @property
    def api_version(self) -> str:
        return f"{self.group}/{self.version}" if self.group else self.version

    def path(self, *, namespace: str | None = None, name: str | None = None) -> str:
        """The collection (or, with `name`, the object) path; `namespace` for namespaced
        kinds only (None: across all namespaces)."""
        base = f"/apis/{self.group}/{self.version}" if self.group else f"/api/{self.version}"
        if self.namespaced and namespace is not None:
            base += f"/namespaces/{namespace}"
        base += f"/{self.plural}"
        return f"{base}/{name}" if name is not None else base


class Discovery:
    def __init__(self, rest: Rest) -> None:
        self._rest = rest
        self._by_kind: dict[str, ResourceType] = {}
        self._by_api_version: dict[tuple[str, str], ResourceType] = {}
        self._lock = asyncio.Lock()
        self._read = False

    async def _refresh(self) -> None:
        by_kind: dict[str, ResourceType] = {}
        by_version: dict[tuple[str, str], ResourceType] = {}
        versions = [("", "v1", True)]
        for group in (await self._rest.get("/apis")).get("groups") or ():
            preferred = (group.get("preferredVersion") or {}).get("version")
            for v in group.get("versions") or ():
                versions.append((group["name"], v["version"], v["version"] == preferred))
        for group_name, version, preferred in versions:
            path = f"/apis/{group_name}/{version}" if group_name else f"/api/{version}"
            try:
                listing = await self._rest.get(path)
            except ApiError:  # an aggregated group that does not answer: skip it, as kubectl
                continue
            for r in listing.get("resources") or ():
                if "/" in r["name"]:
                    continue  # a subresource
                found = ResourceType(group_name, version, r["name"], r["kind"], r["namespaced"])
                by_version.setdefault((found.api_version, found.kind), found)
                if preferred:
                    by_kind.setdefault(found.kind, found)
        for key, found in by_version.items():
            by_kind.setdefault(key[1], found)
        self._by_kind, self._by_api_version, self._read = by_kind, by_version, True

    def _lookup(self, kind: str, api_version: str | None) -> ResourceType | None:
        if api_version:
            return self._by_api_version.get((api_version, kind))
        return self._by_kind.get(kind)

    async def find(self, kind: str, *, api_version: str | None = None) -> ResourceType:
        """The resource of `kind` (in `api_version` when given); raises UnknownKind."""
        async with self._lock:
            if not self._read:
                await self._refresh()
            found = self._lookup(kind, api_version)
            if found is None:
                await self._refresh()
                found = self._lookup(kind, api_version)
        if found is None:
            served = f"{api_version} {kind}" if api_version else f"kind {kind!r}"
            raise UnknownKind(
                f"the cluster serves no {served}; `kubectl api-resources` lists what it serves "
                "(a custom resource needs its CustomResourceDefinition installed first)"
            )
        return found
