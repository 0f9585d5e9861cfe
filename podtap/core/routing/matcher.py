"""Compile an :class:`HttpFilter` once into a matcher for request heads."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from podtap.core.protocol.http_filter import HttpFilter
from podtap.core.protocol.incoming import Headers
from podtap.core.safe_regex import HeaderLines, compile_filter_regex


@dataclass(frozen=True, slots=True)
class RequestHead:
    """The head of an HTTP request as the client sent it.

    ``target`` is the request target (path plus query) as sent, ``headers`` the raw
    ``(name, value)`` pairs in order with the client's spelling of names, ``http_version``
    e.g. ``"1.1"``. Bytes that are not UTF-8 travel as surrogate escapes.
    """

    method: str
    target: str
    headers: Headers
    http_version: str = "1.1"

    @property
    def path(self) -> str:
        """The path part of the target: no query, no ``scheme://authority`` prefix."""
        return split_target(self.target)[0]

    def header_lines(self) -> list[str]:
        """The headers as ``"Name: value"`` strings, in order."""
        return [_decode(name) + ": " + _decode(value) for name, value in self.headers]


def split_target(target: str) -> tuple[str, bool]:
    """Return ``(path, has_query)`` for a request target in any of the four forms."""
    path = target
    if "://" in path and not path.startswith("/"):
        rest = path.split("://", 1)[1]
        cut = min((i for i in (rest.find("/"), rest.find("?")) if i >= 0), default=len(rest))
        path = rest[cut:] or "/"
    query = path.find("?")
    if query < 0:
        return path, False
    return path[:query], True


def _decode(raw: bytes) -> str:
    return raw.decode("utf-8", "surrogateescape")


class _View:
    """A request head with the derived values matchers need, each computed at most once."""

    __slots__ = ("_lines", "_path", "head", "method")

    def __init__(self, head: RequestHead) -> None:
        self.head = head
        self.method = head.method.upper()
        self._lines: HeaderLines | None = None
        self._path: tuple[str, bool] | None = None

    @property
    def lines(self) -> HeaderLines:
        if self._lines is None:
            self._lines = HeaderLines(self.head.header_lines())
        return self._lines

    @property
    def path(self) -> tuple[str, bool]:
        if self._path is None:
            self._path = split_target(self.head.target)
        return self._path


_Test = Callable[[_View], bool]


def _method_test(method: str) -> _Test:
    wanted = method.upper()
    return lambda view: view.method == wanted


def _header_test(pattern: str) -> _Test:
    search = compile_filter_regex(pattern, ignore_case=True, lines=True).search_lines
    return lambda view: search(view.lines)


def _path_test(pattern: str) -> _Test:
    search = compile_filter_regex(pattern).search

    def test(view: _View) -> bool:
        path, has_query = view.path
        if search(path):
            return True
        return has_query and search(view.head.target)

    return test


def _all(tests: list[_Test]) -> _Test:
    if len(tests) == 1:
        return tests[0]
    return lambda view: all(test(view) for test in tests)


def _any(tests: list[_Test]) -> _Test:
    return lambda view: any(test(view) for test in tests)


def _compile(flt: HttpFilter) -> _Test:
    tests: list[_Test] = []
    if flt.method is not None:
        tests.append(_method_test(flt.method))
    if flt.path is not None:
        tests.append(_path_test(flt.path))
    if flt.header is not None:
        tests.append(_header_test(flt.header))
    if flt.all_of:
        tests.append(_all([_compile(sub) for sub in flt.all_of]))
    if flt.any_of:
        tests.append(_any([_compile(sub) for sub in flt.any_of]))
    if not tests:
        return lambda view: True
    return _all(tests)


class CompiledFilter:
    """An :class:`HttpFilter` compiled once; :meth:`matches` is cheap and side-effect free.

    - ``header``: searched ignoring case in each ``"Name: value"`` line;
    - ``path``: searched in the path without query, then in path plus query;

    Regexes run on RE2 (:mod:`podtap.core.safe_regex`): time linear in the text, so no
    pattern can stall the agent's event loop; they mean what Python's ``re`` would.
    - ``method``: equal, ignoring case; ``all_of``/``any_of``: every/at least one sub-filter.

    Raises :class:`~podtap.core.protocol.http_filter.InvalidHttpFilter` for a filter that
    does not validate.
    """

    __slots__ = ("_test", "source")

    def __init__(self, flt: HttpFilter) -> None:
        flt.validate()
        self.source = flt
        self._test = _compile(flt)

    def matches(self, head: RequestHead) -> bool:
        return self._test(_View(head))

    def __repr__(self) -> str:
        return f"CompiledFilter({self.source.describe()})"


def compile_filter(flt: HttpFilter) -> CompiledFilter:
    """Shorthand for :class:`CompiledFilter` (``flt`` must validate)."""
    return CompiledFilter(flt)
