"""The filtered-steal subscriptions of one port, in arrival order: who gets a request."""

from __future__ import annotations

from collections.abc import Hashable, Iterator
from dataclasses import dataclass

from podtap.core.protocol.http_filter import HttpFilter
from podtap.core.routing.matcher import CompiledFilter, RequestHead
from podtap.core.safe_regex import (
    FilterRegex,
    FilterRegexError,
    HeaderLines,
    compile_filter_union,
)


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

    __slots__ = ("_dirty", "_entries", "_screen", "_screened")

    def __init__(self) -> None:
        self._entries: dict[Hashable, CompiledFilter] = {}
        self._screen: FilterRegex | None = None
        self._screened: frozenset[Hashable] = frozenset()
        self._dirty = False

    def add(self, route: Hashable, flt: HttpFilter | CompiledFilter) -> None:
        """Append ``route``; raises ``ValueError`` if it is present or ``None``."""
        if route is None:
            raise ValueError("None means the real app and cannot be a route")
        if route in self._entries:
            raise ValueError(f"route {route!r} is already in the table")
        self._entries[route] = flt if isinstance(flt, CompiledFilter) else CompiledFilter(flt)
        self._dirty = True

    def remove(self, route: Hashable) -> None:
        """Forget ``route`` (no error if absent)."""
        self._entries.pop(route, None)
        self._dirty = True

    def _rebuild(self) -> None:
        """One alternation of every header-only filter: a request whose header lines match
        none of them skips those filters in one RE2 search per line (the common case
        of traffic that is nobody's); when it matches, entries are checked one by one.
        In RE2 an alternation of any patterns means "one of them matches" (inline flags
        are scoped to their group, there are no backreferences)."""
        header_only = {
            route: f.source.header
            for route, f in self._entries.items()
            if f.source.header is not None and _plain(f.source)
        }
        self._screen, self._screened = None, frozenset()
        if len(header_only) < 2:
            return
        try:
            self._screen = compile_filter_union(header_only.values(), ignore_case=True, lines=True)
        except FilterRegexError:  # too large together: every entry is checked
            return
        self._screened = frozenset(header_only)

    def __contains__(self, route: object) -> bool:
        return route in self._entries

    def __len__(self) -> int:
        return len(self._entries)

    def __iter__(self) -> Iterator[Hashable]:
        return iter(self._entries)

    def __call__(self, head: RequestHead) -> Hashable | None:
        skip: frozenset[Hashable] = frozenset()
        if self._dirty:  # built on first use: a table is often filled with many entries
            self._rebuild()
            self._dirty = False
        screen = self._screen
        if screen is not None and not screen.search_lines(HeaderLines(head.header_lines())):
            skip = self._screened
        for route, flt in self._entries.items():
            if route not in skip and flt.matches(head):
                return route
        return None

    def match(self, head: RequestHead) -> RouteMatch:
        hits = [route for route, flt in self._entries.items() if flt.matches(head)]
        if not hits:
            return RouteMatch(None)
        return RouteMatch(hits[0], tuple(hits[1:]))


def _plain(flt: HttpFilter) -> bool:
    return flt.path is None and flt.method is None and not flt.all_of and not flt.any_of
