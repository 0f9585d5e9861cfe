"""Whether two HTTP filters of steal subscriptions provably overlap (pure, conservative).

:func:`filters_overlap` answers True only when it can prove that some plausible request is
matched by both filters. A wrong True refuses a developer for nothing, a wrong False only
lets the earliest subscriber win (with a warning), so whatever it cannot analyse is False.

Model. A filter is expanded into alternatives (``any_of`` branches; ``all_of`` and the
fields of one filter are conjunctions) of *atoms*: ``method`` (case-insensitive), ``path``
(regex, case-sensitive) and ``header`` (regex, case-insensitive). A regex is *analysed* when,
apart from a leading ``^``/``\\A`` (headers: also ``(?i)``) and a trailing ``$``/``\\Z``, it
is only literal characters (escaped punctuation too), ``.`` and ``.*``/``.+`` (also lazy,
or as ``(...)``/``(?:...)``). Searched in a string, such a regex is a glob over the whole
string (an unanchored end is an implicit ``.*``), so anchors that change nothing vanish
(``^.*x.*$`` is ``x``). A glob of only ``.*`` and at most one ``.`` matches every path and
header line (every request has one, e.g. ``Host``): ``''``, ``.*``, ``^.*$``, ``.+``, ``^``
constrain nothing. Header patterns are normalised first: surrounding whitespace dropped,
``Name :  value`` read as ``name: value``, ASCII letters compared case-insensitively.
Path patterns and methods are stripped.

Detected (True):

- filters identical after normalisation (same alternatives, in any order and nesting),
  also with regexes that are not analysed, even if nothing can match them;
- an alternative of one filter and one of the other, together satisfiable, where either
  one *contains* the other (each atom of the wider is implied by an atom of the narrower)
  or their atoms *pair up* (each atom of either side implies or is implied by an atom of
  the other side). An atom implies another when equal (also unanalysed regexes), the same
  method, or an analysed glob provably inside the other's: ``x-user: alice`` covers
  ``^x-user: alice$`` and ``x-user: alice2`` (it is searched in ``X-User: alice2``).

So: a filter matching every request vs any satisfiable one; the same literal header in any
case; the same method; ``any_of`` with an overlapping branch; ``all_of`` that only adds
conditions or whose conditions pair up (``all_of(x-user: alice, path=^/api/v1)`` vs
``all_of(^x-user: alice$, path=^/api)``).

Satisfiable: at most one distinct method; one origin-form target (built from the analysed
path globs) matched by all path regexes, or a single unanalysed path regex (assumed to
match something); a ``Name: value`` line built from each analysed header glob, one line per
header name matching all atoms of that name; an unanalysed header regex is assumed to match
when no other atom shares its header name.

Not detected (False): conditions on different things (``x-user: alice`` vs ``x-env: dev``,
``method=GET`` vs ``path=^/api``, ``all_of(x-user: alice, method=GET)`` vs
``all_of(x-user: alice, path=^/api)``), literal values neither containing the other
(``x-user: alice`` vs ``x-user: bob``), different regexes outside the analysed subset.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from functools import cache, lru_cache
from typing import Final, Literal

from podtap.core.protocol.http_filter import HttpFilter
from podtap.core.safe_regex import FilterRegex, FilterRegexError, compile_filter_regex

__all__ = ["filters_overlap"]

MAX_ALTERNATIVES: Final = 64
"""Beyond this many alternatives a filter is only compared for identity."""
MAX_GLOB: Final = 256

_STAR: Final = "**"  # glob items: one character is a literal, these two are wildcards
_DOT: Final = "??"
_WILDCARDS: Final = sorted(
    (
        (wrap.format(body), (_STAR,) if body[1] == "*" else (_DOT, _STAR))
        for body in (".*", ".*?", ".+", ".+?")
        for wrap in ("(?:{})", "({})", "{}")
    ),
    key=lambda pair: -len(pair[0]),
)
_META: Final = frozenset("()[]{}|?*+^$.\\")
_QUANTIFIERS: Final = frozenset("*+?{")
_BLANKS: Final = r"(?:[ \t]|\\[ \t])*"  # escaped blanks too: ``x-user:\ alice``
_HEADER_HEAD_RE: Final = re.compile(rf"(\^?)([A-Za-z0-9_-]+){_BLANKS}\\?:{_BLANKS}(.*)", re.DOTALL)
_LINE_RE: Final = re.compile(r"([!#$%&'*+\-.^_`|~0-9A-Za-z]+): ([^\x00-\x1f\x7f]*)")
_TARGET_RE: Final = re.compile(r"/[!-~]*")

Glob = tuple[str, ...]
Kind = Literal["method", "path", "header"]


@dataclass(frozen=True, slots=True)
class _Atom:
    kind: Kind
    key: str | Glob  # identity: the glob when analysed, else the normalised text
    pattern: str = field(compare=False)  # normalised text (the method name for methods)
    glob: Glob | None = field(compare=False, default=None)


Term = frozenset[_Atom]


def filters_overlap(a: HttpFilter, b: HttpFilter) -> bool:
    """True when ``a`` and ``b`` are identical or provably match a common request.

    Symmetric and reflexive; see the module docstring for exactly what is detected.
    """
    da, db = _alternatives(a), _alternatives(b)
    if da is None or db is None:
        return _canonical(a) == _canonical(b)
    if da == db:
        return True
    return any(
        (_contains(ta, tb) or _contains(tb, ta) or _paired(ta, tb)) and _satisfiable(ta | tb)
        for ta in da
        for tb in db
    )


def _fold(ch: str) -> str:
    return ch.lower() if ch.isascii() else ch


def _normal_header(pattern: str) -> str:
    text = pattern.strip()
    text = text.removeprefix("(?i)")
    head = _HEADER_HEAD_RE.fullmatch(text)
    if head is not None:
        text = f"{head[1]}{head[2].lower()}: {head[3]}"
    return text


@lru_cache(maxsize=4096)
def _glob(pattern: str) -> Glob | None:
    """``pattern`` (searched) as a glob over whole strings, or None outside the subset."""
    src, i, n = pattern, 0, len(pattern)
    start = src.startswith(("^", "\\A"))
    i = 0 if not start else (1 if src.startswith("^") else 2)
    end = False
    items: list[str] = []
    while i < n:
        for text, expansion in _WILDCARDS:
            if src.startswith(text, i):
                items.extend(expansion)
                i += len(text)
                break
        else:
            ch = src[i]
            if ch == "\\" and src.startswith("\\Z", i) and i + 2 == n:
                end, i = True, n
                continue
            if ch == "$" and i + 1 == n:
                end, i = True, n
                continue
            if ch == "\\":
                nxt = src[i + 1 : i + 2]
                if not nxt or not nxt.isascii() or nxt.isalnum():
                    return None
                item, i = nxt, i + 2
            elif ch == ".":
                item, i = _DOT, i + 1
            elif ch in _META:
                return None
            else:
                item, i = ch, i + 1
            if src[i : i + 1] in _QUANTIFIERS:
                return None
            items.append(item)
    full = ([] if start else [_STAR]) + items + ([] if end else [_STAR])
    out: list[str] = []
    run: list[str] = []
    for item in [*full, ""]:  # reorder each wildcard run: dots first, then at most one star
        if item in (_STAR, _DOT):
            run.append(item)
            continue
        out.extend(x for x in run if x == _DOT)
        out.extend([_STAR] if _STAR in run else [])
        run = []
        if item:
            out.append(item)
    return tuple(out) if len(out) <= MAX_GLOB else None


def _atom(kind: Kind, pattern: str) -> _Atom | None:
    """The atom for one condition, or None when it matches every request."""
    if kind == "method":
        name = pattern.strip().upper()
        return _Atom(kind, name, name)
    text = _normal_header(pattern) if kind == "header" else pattern.strip()
    glob = _glob(text)
    if glob is None:
        return _Atom(kind, text, text)
    if kind == "header":
        glob = tuple(_fold(x) for x in glob)
    if _STAR in glob and glob.count(_DOT) <= 1 and not any(len(x) == 1 for x in glob):
        return None
    return _Atom(kind, glob, text, glob)


def _own_atoms(flt: HttpFilter) -> Term:
    pairs: list[tuple[Kind, str | None]] = [
        ("method", flt.method),
        ("path", flt.path),
        ("header", flt.header),
    ]
    atoms = (_atom(kind, value) for kind, value in pairs if isinstance(value, str))
    return frozenset(atom for atom in atoms if atom is not None)


def _alternatives(flt: HttpFilter) -> frozenset[Term] | None:
    """The filter as alternatives of conjunctions, or None when there are too many."""
    terms: set[Term] = {_own_atoms(flt)}
    groups = [[sub] for sub in flt.all_of] + ([list(flt.any_of)] if flt.any_of else [])
    for group in groups:
        options: set[Term] = set()
        for sub in group:
            sub_terms = _alternatives(sub)
            if sub_terms is None:
                return None
            options |= sub_terms
        terms = {t | o for t in terms for o in options}
        if len(terms) > MAX_ALTERNATIVES:
            return None
    return frozenset(terms)


def _canonical(flt: HttpFilter) -> object:
    return (
        _own_atoms(flt),
        frozenset(_canonical(sub) for sub in flt.all_of),
        frozenset(_canonical(sub) for sub in flt.any_of),
    )


def _covers(wide: Glob, narrow: Glob) -> bool:
    """Every string matching ``narrow`` matches ``wide`` (sound, not complete)."""

    @cache
    def match(i: int, j: int) -> bool:
        if i == len(wide):
            return j == len(narrow)
        if wide[i] == _STAR:
            return match(i + 1, j) or (j < len(narrow) and match(i, j + 1))
        if j == len(narrow) or narrow[j] == _STAR:
            return False
        if wide[i] == _DOT:
            return match(i + 1, j + 1)
        return wide[i] == narrow[j] and match(i + 1, j + 1)

    return match(0, 0)


@lru_cache(maxsize=65536)
def _implies(a: _Atom, b: _Atom) -> bool:
    if a.kind != b.kind:
        return False
    if a.key == b.key:
        return True
    return a.glob is not None and b.glob is not None and _covers(b.glob, a.glob)


def _contains(wide: Term, narrow: Term) -> bool:
    return all(any(_implies(a, b) for a in narrow) for b in wide)


def _paired(a: Term, b: Term) -> bool:
    def comparable(x: _Atom, side: Term) -> bool:
        return any(_implies(x, y) or _implies(y, x) for y in side)

    return all(comparable(x, b) for x in a) and all(comparable(y, a) for y in b)


def _instance(glob: Glob) -> str:
    return "".join("" if x == _STAR else "a" if x == _DOT else x for x in glob)


@lru_cache(maxsize=4096)
def _regex(pattern: str, header: bool) -> FilterRegex | None:
    try:
        return compile_filter_regex(pattern, ignore_case=header)
    except FilterRegexError:
        return None


def _search(pattern: str, text: str, *, header: bool) -> bool:
    """As the agent matches (RE2): the operator cannot be stalled by a pattern either."""
    regex = _regex(pattern, header)
    return regex is not None and regex.search(text)


def _path_matches(pattern: str, target: str) -> bool:
    path, has_query = target.partition("?")[0], "?" in target
    return _search(pattern, path, header=False) or (
        has_query and _search(pattern, target, header=False)
    )


def _satisfiable(term: Term) -> bool:
    """A plausible request matches every atom of ``term`` (see the module docstring)."""
    atoms = [a for a in term if not any(_implies(o, a) and not _implies(a, o) for o in term)]
    if len({a.key for a in atoms if a.kind == "method"}) > 1:
        return False
    paths = [a for a in atoms if a.kind == "path"]
    if any(a.glob is None for a in paths):
        if len(paths) > 1:
            return False
    elif paths:
        candidates = [_instance(a.glob) for a in paths if a.glob is not None]
        candidates += ["/" + c for c in candidates]
        if not any(
            _TARGET_RE.fullmatch(c) and all(_path_matches(a.pattern, c) for a in paths)
            for c in candidates
        ):
            return False
    lines: dict[str, list[str]] = {}  # header name -> candidate lines
    needs: dict[str, list[_Atom]] = {}  # header name -> atoms its one line must match
    for index, atom in enumerate(a for a in atoms if a.kind == "header"):
        if atom.glob is None:
            head = _HEADER_HEAD_RE.fullmatch(atom.pattern)
            if head is not None:  # unanalysed: assumed to match a line of its own name
                needs.setdefault(head[2].lower(), []).append(atom)
            continue
        raw = _instance(atom.glob)
        for line in (raw, f"x-podtap-witness-{index}: {raw}"):
            parsed = _LINE_RE.fullmatch(line)
            plausible = parsed is not None and parsed[2] == parsed[2].strip(" \t")
            if parsed and plausible and _search(atom.pattern, line, header=True):
                lines.setdefault(parsed[1].lower(), []).append(line)
                needs.setdefault(parsed[1].lower(), []).append(atom)
                break
        else:
            return False
    # one line per header name must match all its atoms (one unanalysed atom alone: assumed)
    return all(
        any(all(_search(a.pattern, x, header=True) for a in group) for x in lines[name])
        if name in lines
        else len(group) == 1
        for name, group in needs.items()
    )
