"""The HTTP filter of a steal/mirror subscription, as data (matching lives elsewhere)."""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Final

from podtap.core.safe_regex import FilterRegexError, check_filter_regex

MAX_FILTER_DEPTH: Final = 8
"""Deepest nesting of ``all_of``/``any_of`` that :meth:`HttpFilter.validate` accepts."""

_TOKEN_RE: Final = re.compile(r"[!#$%&'*+\-.^_`|~0-9A-Za-z]+")


class InvalidHttpFilter(ValueError):
    """An HTTP filter that cannot be used; the message says which part and why."""


@dataclass(frozen=True, slots=True, kw_only=True)
class HttpFilter:
    """Conditions on an HTTP request; every condition that is set must hold.

    - ``header``: regex (RE2 syntax) searched case-insensitively in each ``Name: value``
      header line;
    - ``path``: regex (RE2 syntax) searched in the path, then in path plus query;
    - ``method``: exact method name (compared case-insensitively);
    - ``all_of``: every sub-filter matches; ``any_of``: at least one sub-filter matches.
    """

    header: str | None = None
    path: str | None = None
    method: str | None = None
    all_of: tuple[HttpFilter, ...] = ()
    any_of: tuple[HttpFilter, ...] = ()

    def validate(self) -> None:
        """Check regexes compile (RE2 syntax: linear-time matching), methods are tokens,
        nesting is bounded, nothing is empty.

        Raises :class:`InvalidHttpFilter` naming the offending part, e.g.
        ``http filter all_of[1].header: invalid regex '(': missing ): ( (filters use RE2
        syntax ...)`` or ``http filter.header: lookahead (?=...) is not supported in ...``.
        """
        _validate(self, "http filter", 1)

    def describe(self, *, table: bool = False) -> str:
        """The one rendering of a filter for people. In messages (the default):
        ``header=~'x-user: me' and method=GET``; in a table cell (``table=True``, as
        ``operator status`` shows ports): ``header=x-user: me method=GET``."""
        if table:
            item, sep, nested = "{}={}", " ", "; "
        else:
            item, sep, nested = "{}=~{!r}", " and ", ", "
        parts: list[str] = []
        if self.header is not None:
            parts.append(item.format("header", self.header))
        if self.path is not None:
            parts.append(item.format("path", self.path))
        if self.method is not None:
            parts.append(f"method={self.method}")
        for name, items in (("all_of", self.all_of), ("any_of", self.any_of)):
            if items:
                inner = nested.join(f.describe(table=table) for f in items)
                parts.append(f"{name}({inner})")
        return sep.join(parts) if parts else ("" if table else "(empty)")


_EMPTY: Final = HttpFilter()


def _validate(flt: HttpFilter, where: str, depth: int) -> None:
    if depth > MAX_FILTER_DEPTH:
        raise InvalidHttpFilter(f"{where}: nested deeper than {MAX_FILTER_DEPTH} levels")
    if flt == _EMPTY:
        raise InvalidHttpFilter(f"{where}: empty filter (set header, path, method, ...)")
    for name in ("header", "path"):
        pattern = getattr(flt, name)
        if pattern is None:
            continue
        if not isinstance(pattern, str):
            raise InvalidHttpFilter(f"{where}.{name}: expected a regex string")
        try:
            check_filter_regex(pattern, ignore_case=name == "header")
        except FilterRegexError as exc:
            raise InvalidHttpFilter(f"{where}.{name}: {exc}") from None
    if flt.method is not None and not (
        isinstance(flt.method, str) and _TOKEN_RE.fullmatch(flt.method)
    ):
        raise InvalidHttpFilter(f"{where}.method: {flt.method!r} is not an HTTP method name")
    for name in ("all_of", "any_of"):
        subs: tuple[HttpFilter, ...] = getattr(flt, name)
        for index, sub in enumerate(subs):
            if not isinstance(sub, HttpFilter):
                raise InvalidHttpFilter(f"{where}.{name}[{index}]: not an HttpFilter")
            _validate(sub, f"{where}.{name}[{index}]", depth + 1)
