"""HTTP filter regexes on RE2: matching takes time linear in the text, whatever the pattern.

Filters run in the agent's event loop on every request to a filtered port, so a pattern
that backtracks (``(\\d+\\d+)+z`` under Python's ``re`` takes minutes on 40 digits) would
stall every teammate's requests on that pod. RE2 has no backtracking, and therefore none of
the constructs that need it: lookaround, backreferences, possessive quantifiers, atomic and
conditional groups. :func:`compile_filter_regex` refuses those with a message naming the
construct, so a configuration (``podtap verify-config``), the agent (on ``Subscribe``) and
the operator all say the same thing, as early as possible.

This is the only module that imports ``re2``. Patterns are otherwise read as Python ``re``
would read them, which RE2's syntax does not do by itself, so they are translated first:

- ``\\d``, ``\\w``, ``\\s`` and their negations mean Unicode classes, as in Python (RE2:
  ASCII only); inside ``[...]``, ``\\S`` and ``\\W`` stay ASCII (a class cannot hold a
  negated class);
- ``\\Z`` (Python: end of text) becomes RE2's ``\\z``; ``\\uXXXX``/``\\UXXXXXXXX`` become
  ``\\x{...}``.

Texts are matched as UTF-8 with ``surrogatepass``: a byte that was not UTF-8, carried as a
surrogate escape, stays one character (Python's ``.`` matches it, and RE2's does too).
"""

from __future__ import annotations

import contextlib
import functools
import importlib
import re
from collections.abc import Callable, Iterable, Sequence
from typing import Any, Final, Protocol, cast

__all__ = [
    "FilterRegex",
    "FilterRegexError",
    "HeaderLines",
    "check_filter_regex",
    "compile_filter_regex",
    "compile_filter_union",
]

RE2_SYNTAX: Final = "filters use RE2 syntax (linear time), see docs/config.md"
MAX_PROGRAM: Final = 50_000
"""Most RE2 instructions a filter may compile to. Matching is linear in the text, but when a
pattern's DFA would be too large (``[ab]*a.{300}z``) RE2 simulates an NFA whose cost per byte
grows with the pattern: ``x-user: alice`` is 19 instructions, ``.`` 12, Unicode ``\\w`` 1,350,
``.{1000}`` 8,000."""
_MAX_MEM: Final = 64 << 20


class _Options(Protocol):
    case_sensitive: bool
    log_errors: bool
    never_capture: bool
    never_nl: bool
    max_mem: int


class _Compiled(Protocol):
    def ok(self) -> bool: ...
    def error(self) -> bytes: ...
    def ProgramSize(self) -> int: ...
    def Match(
        self, anchor: object, text: bytes, pos: int, endpos: int
    ) -> list[tuple[int, int]]: ...


# The C++ binding itself (google-re2 has no type information; its str layer converts
# offsets back to characters, which a yes/no search does not need).
_re2: Any = importlib.import_module("re2._re2")
_UNANCHORED: Final[object] = _re2.RE2.Anchor.UNANCHORED


class FilterRegexError(ValueError):
    """A filter regex that RE2 cannot run; the message names the construct or the error.

    ``python_error`` is Python's own message when ``re`` rejects the pattern too (a plain
    syntax error such as ``(``, rather than something only RE2 lacks)."""

    def __init__(self, message: str, *, python_error: str | None = None) -> None:
        super().__init__(message)
        self.python_error = python_error


_SPACES: Final = (
    "\\t-\\r\\x1c-\\x20\\x85\\xa0\\x{1680}\\x{2000}-\\x{200a}\\x{2028}\\x{2029}"
    "\\x{202f}\\x{205f}\\x{3000}"
)
_IN_CLASS: Final = {"d": "\\p{Nd}", "D": "\\P{Nd}", "w": "\\p{L}\\p{N}_", "s": _SPACES}
_OUTSIDE: Final = {
    **{k: f"[{v}]" for k, v in _IN_CLASS.items() if k in "dws"},
    "D": "\\P{Nd}",
    "W": "[^\\p{L}\\p{N}_]",
    "S": f"[^{_SPACES}]",
    "Z": "\\z",
}
_LINE: Final = {**_OUTSIDE, "A": "^", "Z": "$", "z": "$"}  # a line's ends, under (?m)
_HEX: Final = frozenset("0123456789abcdefABCDEF")
_NOT_MULTILINE: Final = re.compile(r"\(\?[A-Za-z]*-[A-Za-z]*m")  # (?-m:...) turns off (?m)
_OPEN_RANGE: Final = re.compile(r"\{,[0-9]+\}")  # Python's ``{,n}`` (RE2: a literal)


def _class_body(pattern: str, i: int) -> int:
    """Where the members of the class opened at ``pattern[i] == "["`` start: after an
    optional ``^`` and a leading ``]``, which is a member, not the end."""
    i += 2 if pattern.startswith("[^", i) else 1
    return i + 1 if pattern.startswith("]", i) else i


def _translate(pattern: str, *, lines: bool = False) -> str:
    """``pattern`` (Python ``re`` reading) in RE2 syntax with the same meaning; with
    ``lines``, for one line of a multi-line text (see :class:`HeaderLines`)."""
    out: list[str] = []
    i, n, in_class = 0, len(pattern), False
    while i < n:
        ch = pattern[i]
        if ch == "\\" and i + 1 < n:
            nxt = pattern[i + 1]
            width = {"u": 4, "U": 8}.get(nxt, 0)
            digits = pattern[i + 2 : i + 2 + width]
            if width and len(digits) == width and _HEX.issuperset(digits):
                out.append(f"\\x{{{digits}}}")
                i += 2 + width
                continue
            if nxt == "Q" and not in_class:  # RE2 quoting: copied as it is, up to \E
                end = pattern.find("\\E", i + 2)
                stop = n if end < 0 else end + 2
                out.append(pattern[i:stop])
                i = stop
                continue
            table = _IN_CLASS if in_class else _LINE if lines else _OUTSIDE
            out.append(table.get(nxt, ch + nxt))
            i += 2
            continue
        if ch == "[" and not in_class:
            in_class, start = True, _class_body(pattern, i)
            out.append(pattern[i:start].replace("]", "\\]"))
            i = start
            continue
        if ch == "{" and not in_class and _OPEN_RANGE.match(pattern, i):
            out.append("{0")
            i += 1
            continue
        if ch == "[" and in_class:
            out.append("\\[")  # Python: literal (RE2 would read "[:alpha:]" as a class)
        else:
            in_class = in_class and ch != "]"
            out.append(ch)
        i += 1
    return "".join(out)


_GROUPS: Final = (  # how a group that RE2 cannot do starts -> what it is called
    ("(?=", "lookahead (?=...)"),
    ("(?!", "negative lookahead (?!...)"),
    ("(?<=", "lookbehind (?<=...)"),
    ("(?<!", "negative lookbehind (?<!...)"),
    ("(?>", "atomic group (?>...)"),
    ("(?(", "conditional group (?(...)...)"),
    ("(?#", "comment (?#...)"),
    ("(?|", "branch reset group (?|...)"),
    ("(?P=", "backreference (?P=name)"),
    ("(?P>", "recursion (?P>name)"),
    ("(?&", "recursion (?&name)"),
    ("(?R", "recursion (?R)"),
)


def _construct(pattern: str, error: str) -> str | None:
    """The name of the construct RE2 refused in ``pattern`` (``error``: RE2's message)."""
    kind, _, arg = error.partition(": ")
    if kind == "bad repetition operator" and arg.endswith("+"):
        return f"possessive quantifier {arg}"
    i, n, in_class = 0, len(pattern), False
    while i < n:
        ch = pattern[i]
        if ch == "\\":
            nxt = pattern[i + 1 : i + 2]
            if not in_class and (nxt in ("k", "g") or (nxt.isdigit() and nxt != "0")):
                return f"backreference \\{nxt}"
            i += 2
            continue
        if in_class:
            in_class = ch != "]"
        elif ch == "[":
            in_class, i = True, _class_body(pattern, i)
            continue
        elif ch == "(":
            for start, name in _GROUPS:
                if pattern.startswith(start, i):
                    return name
        i += 1
    if kind == "invalid perl operator" and arg.startswith("(?"):
        return f"inline flag {arg}...) (RE2 knows i, m, s and U)"
    return None


def _refusal(pattern: str, error: str) -> FilterRegexError:
    name = _construct(pattern, error)
    if name is not None:
        return FilterRegexError(f"{name} is not supported in {pattern!r}: {RE2_SYNTAX}")
    try:
        re.compile(pattern)  # compiling only: Python's re backtracks when matching
    except (re.error, OverflowError, RecursionError, ValueError) as exc:
        return FilterRegexError(f"invalid regex {pattern!r}: {exc}", python_error=str(exc))
    return FilterRegexError(f"invalid regex {pattern!r}: {error} ({RE2_SYNTAX})")


def _build(source: str, *, ignore_case: bool, shown: str, never_nl: bool = False) -> _Compiled:
    options = cast(_Options, _re2.RE2.Options())
    options.never_nl = never_nl
    options.log_errors = False
    options.never_capture = True
    options.case_sensitive = not ignore_case
    options.max_mem = _MAX_MEM
    try:
        encoded = source.encode("utf-8")
    except UnicodeEncodeError:
        raise FilterRegexError(f"invalid regex {shown!r}: a lone surrogate") from None
    compiled = cast(_Compiled, _re2.RE2(encoded, options))
    if not compiled.ok():
        raise _refusal(shown, compiled.error().decode("utf-8", "replace"))
    if compiled.ProgramSize() > MAX_PROGRAM:
        raise FilterRegexError(
            f"regex {shown!r} is too large ({compiled.ProgramSize()} RE2 instructions, "
            f"at most {MAX_PROGRAM})"
        )
    return compiled


class HeaderLines:
    """The ``Name: value`` lines of one request head, joined once for every filter.

    A header filter is searched in each line; RE2 does that in one call over the lines
    joined by ``\\n`` with ``never_nl`` (no match spans a newline) and ``(?m)`` (``^`` and
    ``$`` are a line's ends). A line holding a newline itself is searched on its own."""

    __slots__ = ("_joined", "_ready", "lines")

    def __init__(self, lines: Sequence[str]) -> None:
        self.lines = lines
        self._joined: bytes | None = None
        self._ready = False

    def joined(self) -> bytes | None:
        if not self._ready:
            text = "\n".join(self.lines)
            if text.count("\n") == len(self.lines) - 1:
                self._joined = text.encode("utf-8", "surrogatepass")
            self._ready = True
        return self._joined


def _source(parts: Sequence[str], *, lines: bool) -> str:
    if len(parts) == 1:
        return _translate(parts[0], lines=lines)
    return "|".join(f"(?:{_translate(p, lines=lines)})" for p in parts)


class FilterRegex:
    """A compiled filter regex; :meth:`search` is ``re.search(...) is not None``, and
    :meth:`search_lines` is that for any of a head's lines.

    ``lines``: also compile the program :meth:`search_lines` uses (else it searches line by
    line); ``parts``: the regex is their alternation (``pattern`` names it in messages)."""

    __slots__ = ("_all", "_match", "ignore_case", "pattern")

    def __init__(
        self,
        pattern: str,
        *,
        ignore_case: bool = False,
        lines: bool = False,
        parts: Sequence[str] | None = None,
    ) -> None:
        self.pattern = pattern
        self.ignore_case = ignore_case
        parts = [pattern] if parts is None else parts
        source = _source(parts, lines=False)
        self._match = _build(source, ignore_case=ignore_case, shown=pattern).Match
        self._all: Callable[[object, bytes, int, int], list[tuple[int, int]]] | None = None
        if lines and not any(_NOT_MULTILINE.search(p) for p in parts):
            source = f"(?m:{_source(parts, lines=True)})"
            with contextlib.suppress(FilterRegexError):  # then searched line by line
                built = _build(source, ignore_case=ignore_case, shown=pattern, never_nl=True)
                self._all = built.Match

    def search(self, text: str) -> bool:
        """Whether the pattern occurs anywhere in ``text`` (surrogate escapes allowed)."""
        data = text.encode("utf-8", "surrogatepass")
        return self._match(_UNANCHORED, data, 0, len(data))[0][0] >= 0

    def search_lines(self, lines: HeaderLines) -> bool:
        """Whether the pattern occurs in one of ``lines`` (one RE2 search, usually)."""
        if not lines.lines:
            return False
        data = lines.joined() if self._all is not None else None
        if data is None or self._all is None:
            return any(self.search(line) for line in lines.lines)
        return self._all(_UNANCHORED, data, 0, len(data))[0][0] >= 0

    def __repr__(self) -> str:
        flag = ", ignore_case=True" if self.ignore_case else ""
        return f"FilterRegex({self.pattern!r}{flag})"


def compile_filter_regex(
    pattern: str, *, ignore_case: bool = False, lines: bool = False
) -> FilterRegex:
    """Compile a header or path filter regex; raises :class:`FilterRegexError`."""
    return _compiled(pattern, ignore_case, lines)


def compile_filter_union(
    patterns: Iterable[str], *, ignore_case: bool = False, lines: bool = False
) -> FilterRegex:
    """One regex searching for any of ``patterns`` (each must compile on its own).

    With RE2 an alternation means exactly "one of them matches": inline flags are scoped
    to their group and there are no backreferences to renumber.
    """
    return _union(tuple(patterns), ignore_case, lines)


# Compiled regexes are immutable and shared: the agent builds a route table for every new
# connection on a filtered port, and compiling a union of 1,000 filters each time cost
# ~0.5 ms per connection (Python's `re` caches compiled patterns the same way).
@functools.lru_cache(maxsize=1024)
def _compiled(pattern: str, ignore_case: bool, lines: bool) -> FilterRegex:
    return FilterRegex(pattern, ignore_case=ignore_case, lines=lines)


@functools.lru_cache(maxsize=64)
def _union(items: tuple[str, ...], ignore_case: bool, lines: bool) -> FilterRegex:
    return FilterRegex("|".join(items), ignore_case=ignore_case, lines=lines, parts=list(items))


def check_filter_regex(pattern: str, *, ignore_case: bool = False) -> None:
    """Raise :class:`FilterRegexError` unless ``pattern`` is a usable filter regex."""
    FilterRegex(pattern, ignore_case=ignore_case)
