"""The policies and profiles of a cluster as the decisions take them, kept from API objects.

Pure: objects in (as a listing or a watch gives them), :class:`PolicySnapshot` out. Each
object is parsed by the core (``policy_from_object`` / ``profile_from_object``); a bad one
is reported once per version (:meth:`PolicyBook.put` returns its line) and skipped: a policy
whose new version is bad keeps its last good version in force, so an admin's typo never
lifts a block. Both the operator's live cache and ``podtap policy explain`` read through it.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from podtap.core.policy.matching import FoundPolicy
from podtap.core.policy.models import PolicyError
from podtap.core.policy.objects import (
    POLICY_KINDS,
    PROFILE_KINDS,
    policy_from_object,
    profile_from_object,
)
from podtap.core.policy.profiles import FoundProfile

__all__ = ["PolicyBook", "PolicySnapshot", "book_of"]

#: kind, namespace ("" for cluster kinds), name
Key = tuple[str, str, str]


@dataclass(frozen=True, slots=True, kw_only=True)
class PolicySnapshot:
    """What the decisions take: every good policy and profile (podtap's kinds, then mirrord's;
    namespaced, then cluster-wide; by namespace and name: the order refusals are looked for
    in, so the first policy that refuses is named); ``version``
    grows with each change; ``problems``: one line per object skipped as bad."""

    policies: tuple[FoundPolicy, ...] = ()
    profiles: tuple[FoundProfile, ...] = ()
    problems: tuple[str, ...] = ()
    version: int = 0


def _key(obj: Mapping[str, Any]) -> Key:
    meta = obj.get("metadata") or {}
    kind = str(obj.get("kind", ""))
    namespaced = {**POLICY_KINDS, **PROFILE_KINDS}.get(kind, True)
    namespace = str(meta.get("namespace") or "") if namespaced else ""
    return kind, namespace, str(meta.get("name", ""))


#: podtap's kinds before mirrord's, a namespaced kind before its cluster one
_KIND_ORDER = {kind: i for i, kind in enumerate((*POLICY_KINDS, *PROFILE_KINDS))}


def _order(key: Key) -> tuple[int, str, str]:
    return _KIND_ORDER.get(key[0], len(_KIND_ORDER)), key[1], key[2]


def _rv(obj: Mapping[str, Any]) -> str:
    return str((obj.get("metadata") or {}).get("resourceVersion", ""))


class PolicyBook:
    """The good objects by key, and the bad versions already reported."""

    def __init__(self) -> None:
        self._good: dict[Key, FoundPolicy | FoundProfile] = {}
        self._bad: dict[Key, tuple[str, str]] = {}  # key -> (resourceVersion, line)
        self.version = 0

    def put(self, obj: Mapping[str, Any]) -> str | None:
        """Take an added or changed object; the line to log when it is bad and new."""
        key = _key(obj)
        try:
            kind = key[0]
            found: FoundPolicy | FoundProfile = (
                policy_from_object(obj) if kind in POLICY_KINDS else profile_from_object(obj)
            )
        except PolicyError as exc:
            kept = key in self._good
            line = f"{exc}; skipped" + (" (its last good version stays in force)" if kept else "")
            seen = self._bad.get(key)
            self._bad[key] = (_rv(obj), line)
            if seen is None or seen[0] != _rv(obj):
                self.version += 1
                return line
            return None
        was_bad = self._bad.pop(key, None) is not None
        changed = was_bad or self._good.get(key) != found
        self._good[key] = found
        self.version += changed
        return None

    def delete(self, obj: Mapping[str, Any]) -> None:
        key = _key(obj)
        gone = self._good.pop(key, None) is not None
        gone = self._bad.pop(key, None) is not None or gone
        self.version += gone

    def drop_kind(self, kind: str) -> None:
        """Forget every object of ``kind`` (its CRD was deleted, and its objects with it)."""
        keys = [k for k in (*self._good, *self._bad) if k[0] == kind]
        for key in keys:
            self._good.pop(key, None)
            self._bad.pop(key, None)
        self.version += bool(keys)

    def snapshot(self) -> PolicySnapshot:
        ordered = [self._good[k] for k in sorted(self._good, key=_order)]
        return PolicySnapshot(
            policies=tuple(p for p in ordered if isinstance(p, FoundPolicy)),
            profiles=tuple(p for p in ordered if isinstance(p, FoundProfile)),
            problems=tuple(line for _, line in (self._bad[k] for k in sorted(self._bad))),
            version=self.version,
        )


def book_of(objects: Iterable[Mapping[str, Any]]) -> tuple[PolicyBook, list[str]]:
    """A book of a one-off listing, and the lines of the bad objects in it."""
    book = PolicyBook()
    lines = [line for obj in objects if (line := book.put(obj)) is not None]
    return book, lines
