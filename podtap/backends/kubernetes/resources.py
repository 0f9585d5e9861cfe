"""Stored objects of any kind: list, get, create-or-replace, delete (JSON, paths by discovery)."""

from __future__ import annotations

import copy
from typing import Any

from podtap.backends.kubernetes.discovery import Discovery, ResourceType
from podtap.backends.kubernetes.rest import ApiError, Rest

__all__ = ["Resources", "invalid_message"]

#: How many times a replace re-reads the object after a 409 Conflict before giving up.
CONFLICT_RETRIES = 5


def invalid_message(obj: dict[str, Any], error: ApiError) -> str:
    """One line for a 422 Invalid: the object, then each field the server named."""
    causes = (error.status.get("details") or {}).get("causes") or []
    fields = "; ".join(f"field {c.get('field')}: {c.get('message')}" for c in causes)
    meta = obj.get("metadata") or {}
    return f"{obj.get('kind')} {meta.get('name')!r} is invalid: {fields or error}"


def _check(obj: dict[str, Any]) -> None:
    for field in ("apiVersion", "kind"):
        if not obj.get(field):
            raise ValueError(f"object is invalid: field {field}: required")
    if not (obj.get("metadata") or {}).get("name"):
        raise ValueError(f"{obj['kind']} is invalid: field metadata.name: required")


def _typed(items: list[dict[str, Any]], rt: ResourceType) -> list[dict[str, Any]]:
    """List items carry no apiVersion/kind on the wire (TypeMeta is the list's): set them."""
    return [{"apiVersion": rt.api_version, "kind": rt.kind, **item} for item in items]


class Resources:
    def __init__(self, rest: Rest, discovery: Discovery) -> None:
        self._rest, self._discovery = rest, discovery

    async def of_kind(self, kind: str, *, namespace: str | None = None) -> list[dict[str, Any]]:
        rt = await self._discovery.find(kind)
        listing = await self._rest.get(rt.path(namespace=namespace))
        return _typed(listing.get("items") or [], rt)

    async def get(self, kind: str, *, namespace: str, name: str) -> dict[str, Any] | None:
        rt = await self._discovery.find(kind)
        obj = await self._rest.get_or_none(rt.path(namespace=namespace, name=name))
        return None if obj is None else {"apiVersion": rt.api_version, "kind": rt.kind, **obj}

    async def listing(self, rt: ResourceType) -> tuple[list[dict[str, Any]], str]:
        """Every object of `rt` and the list's resourceVersion (where a watch starts)."""
        listing = await self._rest.get(rt.path())
        version = str((listing.get("metadata") or {}).get("resourceVersion", ""))
        return _typed(listing.get("items") or [], rt), version

    async def put(self, obj: dict[str, Any]) -> str:
        """Create `obj`, or replace the stored one with it: "created", "configured" or
        "unchanged" (the server kept its resourceVersion). The caller's dict is not changed."""
        _check(obj)
        rt = await self._discovery.find(obj["kind"], api_version=obj["apiVersion"])
        body = copy.deepcopy(obj)
        meta = body.setdefault("metadata", {})
        namespace = meta.setdefault("namespace", "default") if rt.namespaced else None
        if not rt.namespaced:
            meta.pop("namespace", None)
        path = rt.path(namespace=namespace, name=meta["name"])
        for _ in range(CONFLICT_RETRIES):
            stored = await self._rest.get_or_none(path)
            try:
                if stored is None:
                    await self._rest.call("POST", rt.path(namespace=namespace), body=body)
                    return "created"
                old = stored["metadata"]["resourceVersion"]
                meta["resourceVersion"] = old
                written = await self._rest.call("PUT", path, body=body)
            except ApiError as exc:
                if exc.code == 409:  # changed (or made) since it was read: read it again
                    continue
                if exc.code == 422:
                    raise ValueError(invalid_message(obj, exc)) from None
                raise
            same = written["metadata"]["resourceVersion"] == old
            return "unchanged" if same else "configured"
        raise RuntimeError(
            f"{rt.kind} {meta['name']!r} kept changing while podtap wrote it "
            f"({CONFLICT_RETRIES} conflicts); try again"
        )

    async def delete(self, kind: str, *, namespace: str, name: str) -> bool:
        rt = await self._discovery.find(kind)
        try:
            await self._rest.call("DELETE", rt.path(namespace=namespace, name=name))
        except ApiError as exc:
            if exc.code == 404:
                return False
            raise
        return True
