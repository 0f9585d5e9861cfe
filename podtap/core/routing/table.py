"""The filtered-steal subscriptions of one port, in arrival order: who gets a request."""

from __future__ import annotations

from collections.abc import Hashable, Iterator
from dataclasses import dataclass

from podtap.core.protocol.http_filter import HttpFilter
from podtap.core.routing.matcher import CompiledFilter, RequestHead


@dataclass(frozen=True, slots=True)
class RouteMatch:
    """``route``: the earliest subscriber whose filter matched (``None``: the real app);
    ``also``: later subscribers that matched too (they deserve a warning)."""

    route: Hashable | None
    also: tuple[Hashable, ...] = ()


class RouteTable:
    """Ordered ``route -> filter`` entries; the earliest added matching entry wins.

    An instance is callable, so it can be passed as ``Http1Router(route=table)``.
    """

    __slots__ = ("_entries",)

    def __init__(self) -> None:
        self._entries: dict[Hashable, CompiledFilter] = {}

    def add(self, route: Hashable, flt: HttpFilter | CompiledFilter) -> None:
        """Append ``route``; raises ``ValueError`` if it is present or ``None``."""
        if route is None:
            raise ValueError("None means the real app and cannot be a route")
        if route in self._entries:
            raise ValueError(f"route {route!r} is already in the table")
        self._entries[route] = flt if isinstance(flt, CompiledFilter) else CompiledFilter(flt)

    def remove(self, route: Hashable) -> None:
        """Forget ``route`` (no error if absent)."""
        self._entries.pop(route, None)

    def __contains__(self, route: object) -> bool:
        return route in self._entries

    def __len__(self) -> int:
        return len(self._entries)

    def __iter__(self) -> Iterator[Hashable]:
        return iter(self._entries)

    def __call__(self, head: RequestHead) -> Hashable | None:
        for route, flt in self._entries.items():
            if flt.matches(head):
                return route
        return None

    def match(self, head: RequestHead) -> RouteMatch:
        hits = [route for route, flt in self._entries.items() if flt.matches(head)]
        if not hits:
            return RouteMatch(None)
        return RouteMatch(hits[0], tuple(hits[1:]))
