"""Kind -> group, version, plural and scope, from the API server's discovery (cached).

The first look-up reads ``/api/v1`` and every version of every group under ``/apis`` (a
bare kind maps to its group's preferred version); a kind not found is looked up once more
(a CustomResourceDefinition created since: only its group version when that is given, so a
kind the cluster lacks, as Rollouts without Argo, costs one request), then refused.
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
        self._chosen: set[str] = set()
        self._lock = asyncio.Lock()
        self._read = False

    async def _versions(self) -> list[tuple[str, str, bool]]:
        """(group, version, preferred) of everything served, the core group first."""
        versions = [("", "v1", True)]
        for group in (await self._rest.get("/apis")).get("groups") or ():
            preferred = (group.get("preferredVersion") or {}).get("version")
            for v in group.get("versions") or ():
                versions.append((group["name"], v["version"], v["version"] == preferred))
        return versions

    async def _read_version(self, group: str, version: str, *, preferred: bool) -> None:
        path = f"/apis/{group}/{version}" if group else f"/api/{version}"
        try:
            listing = await self._rest.get(path)
        except ApiError:  # not served, or an aggregated group that does not answer
            return
        for r in listing.get("resources") or ():
            if "/" in r["name"]:
                continue  # a subresource
            found = ResourceType(group, version, r["name"], r["kind"], r["namespaced"])
            self._by_api_version[(found.api_version, found.kind)] = found
            # a bare kind: the first preferred version found (the core group comes first,
            # so Event is v1's, not events.k8s.io's), else any
            if found.kind not in self._chosen:
                self._by_kind[found.kind] = found
                if preferred:
                    self._chosen.add(found.kind)

    async def _refresh(self, api_version: str | None) -> None:
        """Everything (the first time, or for a kind named without its version), else only
        the one group version asked for: a miss costs one request, not a full discovery."""
        if api_version is not None and self._read:
            group, _, version = api_version.rpartition("/")
            await self._read_version(group, version, preferred=False)
            return
        self._by_kind, self._by_api_version, self._chosen = {}, {}, set()
        for group, version, preferred in await self._versions():
            await self._read_version(group, version, preferred=preferred)
        self._read = True

    def _lookup(self, kind: str, api_version: str | None) -> ResourceType | None:
        if api_version:
            return self._by_api_version.get((api_version, kind))
        return self._by_kind.get(kind)

    async def find(self, kind: str, *, api_version: str | None = None) -> ResourceType:
        """The resource of `kind` (in `api_version` when given); raises UnknownKind."""
        async with self._lock:
            if not self._read:
                await self._refresh(None)
            found = self._lookup(kind, api_version)
            if found is None:
                await self._refresh(api_version)
                found = self._lookup(kind, api_version)
        if found is None:
            served = f"{api_version} {kind}" if api_version else f"kind {kind!r}"
            raise UnknownKind(
                f"the cluster serves no {served}; `kubectl api-resources` lists what it serves "
                "(a custom resource needs its CustomResourceDefinition installed first)"
            )
        return found
