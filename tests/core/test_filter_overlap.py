from __future__ import annotations

import itertools
import re

import pytest
from hypothesis import given
from hypothesis import strategies as st

from podtap.core.filter_overlap import _alternatives, filters_overlap
from podtap.core.protocol import HttpFilter


def H(pattern: str) -> HttpFilter:
    return HttpFilter(header=pattern)


def P(pattern: str) -> HttpFilter:
    return HttpFilter(path=pattern)


def M(method: str) -> HttpFilter:
    return HttpFilter(method=method)


def all_of(*subs: HttpFilter) -> HttpFilter:
    return HttpFilter(all_of=subs)


def any_of(*subs: HttpFilter) -> HttpFilter:
    return HttpFilter(any_of=subs)


ALICE = H("x-user: alice")
TABLE: list[tuple[str, HttpFilter, HttpFilter, bool]] = [
    # identical after normalisation
    ("same header", ALICE, H("x-user: alice"), True),
    ("header case", H("X-User: ALICE"), ALICE, True),
    ("surrounding blanks", H("  x-user: alice \t"), ALICE, True),
    ("blanks around colon", H("x-user :  alice"), ALICE, True),
    ("inline (?i)", H("(?i)x-user: alice"), ALICE, True),
    ("useless anchors", H("^.*x-user: alice.*$"), ALICE, True),
    ("escaped punctuation", H(r"x\-user\: alice"), ALICE, True),
    ("all_of of one", all_of(ALICE), ALICE, True),
    ("any_of of one", any_of(ALICE), ALICE, True),
    ("any_of order", any_of(ALICE, M("GET")), any_of(M("GET"), ALICE), True),
    (
        "fields vs all_of",
        HttpFilter(header="x-user: alice", method="GET"),
        all_of(M("get"), ALICE),
        True,
    ),
    ("same opaque regex", H("x-user: (alice|bob)"), H(" X-User: (alice|bob)"), True),
    ("identical unsatisfiable", all_of(M("GET"), M("POST")), all_of(M("POST"), M("GET")), True),
    ("same method", M("GET"), M("get"), True),
    ("same path", P("^/api"), P(" ^/api "), True),
    ("escaped colon and blank", H(r"X-User\:\ alice"), ALICE, True),
    # matches every request
    ("dot-star", H(".*"), ALICE, True),
    ("anchored dot-star", H("^.*$"), P("^/api"), True),
    ("empty pattern", H(""), M("POST"), True),
    ("dot-plus", P(".+"), ALICE, True),
    ("lazy group", P("(?:.*?)"), ALICE, True),
    ("group", H("(.*)"), H("x-user: (alice|bob)"), True),
    ("bare anchor", P("^"), M("GET"), True),
    ("match-all vs unsatisfiable", H(".*"), all_of(M("GET"), M("POST")), False),
    ("^$ is not match-all", H("^$"), M("GET"), False),
    ("two dots are not match-all", P("^..$"), M("GET"), False),
    # containment
    ("unanchored covers anchored", ALICE, H("^x-user: alice$"), True),
    ("longer value contains shorter", ALICE, H("x-user: alice2"), True),
    ("longer name contains shorter", H("user: alice"), ALICE, True),
    ("anchored different values", H("^x-user: alice$"), H("^x-user: alice2$"), False),
    ("path prefix", P("^/api"), P("^/api/v1"), True),
    ("path glob", P("^/api/.*/items$"), P("^/api/v1/items$"), True),
    ("path query", P("^/api"), P(r"^/api\?x=1"), True),
    ("method covers method+header", M("GET"), all_of(M("GET"), ALICE), True),
    ("header covers header+path", ALICE, HttpFilter(header="x-user: alice", path="^/a"), True),
    ("any_of branch", any_of(ALICE, H("x-user: bob")), H("x-user: bob"), True),
    ("any_of shared branch", any_of(ALICE, P("^/a")), any_of(P("^/b"), ALICE), True),
    (
        "all_of pairwise",
        all_of(ALICE, P("^/api")),
        all_of(H("^x-user: alice$"), P("^/api/v")),
        True,
    ),
    (
        "nested",
        any_of(all_of(M("GET"), any_of(ALICE, H("x-user: bob")))),
        all_of(M("GET"), H("x-user: bob")),
        True,
    ),
    (
        "all_of conditions pair up",
        all_of(ALICE, P("^/api/v1")),
        all_of(H("^x-user: alice$"), P("^/api")),
        True,
    ),
    (
        "pairs up but no common value",
        all_of(H("^x-user: alice$"), P("^/api")),
        all_of(H("^x-user: alice2$"), P("^/api")),
        False,
    ),
    (
        "pairs up but no common target",
        all_of(ALICE, P("^/api$")),
        all_of(ALICE, P("^/api/v1")),
        False,
    ),
    # not provable
    ("different values", ALICE, H("x-user: bob"), False),
    ("different names", ALICE, H("x-env: alice"), False),
    ("different methods", M("GET"), M("POST"), False),
    ("different dimensions", M("GET"), P("^/api"), False),
    ("header vs method", ALICE, M("GET"), False),
    ("unanchored paths", P("/api"), P("/v1"), False),
    ("anchored paths", P("^/api"), P("^/web"), False),
    ("path case", P("^/api"), P("^/API"), False),
    ("partly different all_of", all_of(ALICE, P("^/api")), all_of(ALICE, M("GET")), False),
    ("opaque vs literal", H("x-user: (alice|bob)"), ALICE, False),
    ("opaque vs opaque", H(r"x-user: \w+"), H(r"x-user: \S+"), False),
    ("quantified literal", H("x-user: alice+"), ALICE, False),
    ("unsatisfiable methods", all_of(M("GET"), M("POST")), M("GET"), False),
    ("unsatisfiable path", P("^api"), P(".*"), False),
    (
        "one value per header",
        all_of(H("^x-user: alice$"), H("^x-user: bob$")),
        H("^x-user: alice$"),
        False,
    ),
    ("two paths without common target", all_of(P("^/a$"), P("^/b$")), P("^/a$"), False),
    ("any_of disjoint branches", any_of(ALICE, H("x-user: bob")), H("x-user: carol"), False),
]


@pytest.mark.parametrize(("a", "b", "expected"), [t[1:] for t in TABLE], ids=[t[0] for t in TABLE])
def test_overlap_table(a: HttpFilter, b: HttpFilter, expected: bool) -> None:
    assert filters_overlap(a, b) is expected
    assert filters_overlap(b, a) is expected


def test_redundant_header_atoms_share_one_line() -> None:
    both = all_of(ALICE, H("x-user: alice2"))
    assert filters_overlap(both, H("^x-user: alice2$"))


def test_too_many_alternatives_only_compare_identity() -> None:
    wide = all_of(*(any_of(H(f"x-a{i}: 1"), H(f"x-b{i}: 1")) for i in range(7)))  # 128
    assert filters_overlap(wide, wide)
    assert filters_overlap(wide, all_of(*reversed(wide.all_of)))
    assert not filters_overlap(wide, H(".*"))


# -- properties ---------------------------------------------------------------------------

HEADERS = [
    "x-user: alice", "^x-user: alice$", "X-User: ALICE", " x-user:alice ", "x-user: alice2",
    "x-user: bob", "^x-user: (alice|bob)$", r"x-user: alice\d", "x-env: staging", "user: alice",
    ".*", "^.*$", "", ".+", "^$", "x-user: .*", "x-user", "staging$",
]  # fmt: skip
PATHS = ["^/api", "/api", "^/api/v1", "^/web$", ".*", "v1", r"^/api/v1\?x=1", "^api", "/API"]
METHODS = ["GET", "get", "POST"]


def all_of_t(subs: list[HttpFilter]) -> HttpFilter:
    return HttpFilter(all_of=tuple(subs))


def any_of_t(subs: list[HttpFilter]) -> HttpFilter:
    return HttpFilter(any_of=tuple(subs))


leaves = st.builds(
    HttpFilter,
    header=st.none() | st.sampled_from(HEADERS),
    path=st.none() | st.sampled_from(PATHS),
    method=st.none() | st.sampled_from(METHODS),
).filter(lambda f: f != HttpFilter())
filters = st.recursive(
    leaves,
    lambda children: (
        st.builds(all_of_t, st.lists(children, min_size=1, max_size=3))
        | st.builds(any_of_t, st.lists(children, min_size=1, max_size=3))
    ),
    max_leaves=6,
)


def intended(pattern: str) -> str:
    """The normalisation filters_overlap assumes: ``' x-user :alice '`` means ``x-user: alice``."""
    return re.sub(r"^(\^?)([A-Za-z0-9_-]+)[ \t]*:[ \t]*", r"\1\2: ", pattern.strip())


def matches(flt: HttpFilter, method: str, target: str, lines: tuple[str, ...]) -> bool:
    """Reference semantics, straight from the HttpFilter docstring (after ``intended``)."""
    if flt.method is not None and flt.method.upper() != method:
        return False
    if flt.path is not None:
        path, pattern = target.partition("?")[0], intended(flt.path)
        if not (re.search(pattern, path) or ("?" in target and re.search(pattern, target))):
            return False
    if flt.header is not None and not any(re.search(intended(flt.header), x, re.I) for x in lines):
        return False
    if not all(matches(sub, method, target, lines) for sub in flt.all_of):
        return False
    return not flt.any_of or any(matches(sub, method, target, lines) for sub in flt.any_of)


TARGETS = ["/", "/api", "/api/v1", "/api/v1?x=1", "/web", "/x/api", "/v1", "/API"]
HEADER_CHOICES: list[list[str | None]] = [
    [None, "X-User: alice", "X-User: alice2", "X-User: bob", "X-User: Alice"],
    [None, "X-Env: staging"],
    [None, "User: alice"],
]
UNIVERSE: list[tuple[str, str, tuple[str, ...]]] = [
    (method, target, ("Host: svc", *(x for x in lines if x)))
    for method, target in itertools.product(["GET", "POST"], TARGETS)
    for lines in itertools.product(*HEADER_CHOICES)
]
"""Plausible requests (one line per header name) covering what the vocabulary can match."""


@given(filters, filters)
def test_overlap_is_sound(a: HttpFilter, b: HttpFilter) -> None:
    """True means a plausible request matches both (unless the filters are identical)."""
    if filters_overlap(a, b) and _alternatives(a) != _alternatives(b):
        assert any(matches(a, *r) and matches(b, *r) for r in UNIVERSE)


@given(filters, filters)
def test_overlap_is_symmetric(a: HttpFilter, b: HttpFilter) -> None:
    assert filters_overlap(a, b) == filters_overlap(b, a)


@given(filters)
def test_overlap_is_reflexive(a: HttpFilter) -> None:
    assert filters_overlap(a, a)
    assert filters_overlap(a, all_of(a))
    assert filters_overlap(any_of(a), a)


@given(filters, filters)
def test_wrapping_does_not_change_the_answer(a: HttpFilter, b: HttpFilter) -> None:
    expected = filters_overlap(a, b)
    assert filters_overlap(all_of(a), b) == expected
    assert filters_overlap(any_of(a), any_of(b)) == expected
