"""Filter regexes run on RE2: no pattern stalls matching, and valid patterns mean what `re`
would make them mean (issue 9: one filter froze every request to its pod)."""

from __future__ import annotations

import re
import time
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from podtap.core.config import validate_config
from podtap.core.config.loader import ConfigError
from podtap.core.filter_overlap import filters_overlap
from podtap.core.protocol import HttpFilter, InvalidHttpFilter
from podtap.core.routing import CompiledFilter, RequestHead, RouteTable
from podtap.core.safe_regex import (
    FilterRegexError,
    HeaderLines,
    compile_filter_regex,
    compile_filter_union,
)

BUDGET = 0.5  # seconds; under Python's re these cases take minutes or never end


def head(*headers: tuple[bytes, bytes], target: str = "/") -> RequestHead:
    return RequestHead("GET", target, headers)


def timed(fn: Any) -> tuple[Any, float]:
    start = time.perf_counter()
    result = fn()
    return result, time.perf_counter() - start


# ----------------------------------------------------------------------- no stalls


def test_nested_quantifier_on_a_40_digit_header_is_instant() -> None:
    flt = CompiledFilter(HttpFilter(header=r"(\d+\d+)+z"))
    digits = b"1" * 40
    miss, t_miss = timed(lambda: flt.matches(head((b"Host", b"svc"), (b"X-Id", digits))))
    hit, t_hit = timed(lambda: flt.matches(head((b"X-Id", digits + b"Z"))))  # ignores case
    assert miss is False and hit is True
    assert t_miss < BUDGET and t_hit < BUDGET


def test_nested_star_on_an_ordinary_host_line_is_instant() -> None:
    flt = CompiledFilter(HttpFilter(header=r"(.*.*)*z"))
    host = head((b"Host", b"shop.default.svc.cluster.local:8080"), (b"Accept", b"*/*"))
    miss, t_miss = timed(lambda: flt.matches(host))
    hit, t_hit = timed(lambda: flt.matches(head((b"Host", b"fizz"))))
    assert miss is False and hit is True
    assert t_miss < BUDGET and t_hit < BUDGET


def test_catastrophic_path_filter_is_instant() -> None:
    flt = CompiledFilter(HttpFilter(path=r"^/(a|aa)+$"))
    miss, elapsed = timed(lambda: flt.matches(head(target="/" + "a" * 60 + "!?q=1")))
    assert miss is False and elapsed < BUDGET
    assert flt.matches(head(target="/aaaa?x"))


def test_route_table_with_a_catastrophic_filter_serves_the_others_at_once() -> None:
    """The table's one-regex screen holds the bad pattern too: it must stay linear."""
    table = RouteTable()
    table.add("mallory", HttpFilter(header=r"(\d+\d+)+z"))
    table.add("alice", HttpFilter(header=r"^x-user: alice$"))
    table.add("carol", HttpFilter(header=r"(?-i:X-User): carol"))  # scoped flag in a union
    carol_lower = head((b"x-user", b"carol"))
    teammate = head((b"Host", b"svc"), (b"X-Id", b"7" * 40), (b"X-User", b"bob"))
    route, elapsed = timed(lambda: table(teammate))
    assert route is None and elapsed < BUDGET
    assert table(head((b"X-Id", b"7" * 40), (b"X-User", b"alice"))) == "alice"
    assert table(head((b"X-User", b"carol"))) == "carol"
    assert table(carol_lower) is None


def test_overlap_proof_with_catastrophic_patterns_is_instant() -> None:
    bad = HttpFilter(header=r"(\d+\d+)+z")
    both, elapsed = timed(
        lambda: (
            filters_overlap(bad, HttpFilter(header="x-id: " + "1" * 40))
            or filters_overlap(HttpFilter(path=r"^/(a|aa)+$"), HttpFilter(path="/" + "a" * 40))
        )
    )
    assert both is False and elapsed < BUDGET
    assert filters_overlap(bad, HttpFilter(all_of=(bad,)))


# ----------------------------------------------------------------------- refusals

REFUSED = [
    (r"x-user: (?=alice)", r"lookahead \(\?=\.\.\.\)"),
    (r"x-user: (?!bob)", r"negative lookahead"),
    (r"(?<=x-)user", r"lookbehind"),
    (r"x-(\w+): \1", r"backreference \\1"),
    (r"(?P<u>a)(?P=u)", r"backreference \(\?P=name\)"),
    (r"x-user: a++", r"possessive quantifier \+\+"),
    (r"(?>ab|a)c", r"atomic group"),
    (r"(?x) x-user", r"inline flag \(\?x"),
]


@pytest.mark.parametrize(("pattern", "construct"), REFUSED)
def test_agent_side_validate_names_the_construct_and_re2(pattern: str, construct: str) -> None:
    flt = HttpFilter(any_of=(HttpFilter(method="GET"), HttpFilter(header=pattern)))
    with pytest.raises(InvalidHttpFilter) as info:
        flt.validate()
    message = str(info.value)
    assert message.startswith("http filter.any_of[1].header: ")
    assert re.search(construct, message), message
    assert "RE2 syntax (linear time)" in message
    with pytest.raises(InvalidHttpFilter):
        CompiledFilter(HttpFilter(path=pattern))


def incoming(http_filter: dict[str, Any]) -> dict[str, Any]:
    return {"feature": {"network": {"incoming": {"mode": "steal", "http_filter": http_filter}}}}


@pytest.mark.parametrize(
    ("http_filter", "key"),
    [
        ({"header_filter": r"x-user: (?=alice)"}, "http_filter.header_filter"),
        ({"path_filter": r"^/(?<!x)api"}, "http_filter.path_filter"),
        ({"all_of": [{"method": "GET"}, {"header": r"(a)\1"}]}, "http_filter.all_of[1].header"),
        ({"any_of": [{"path": r"^/a++"}]}, "http_filter.any_of[0].path"),
    ],
)
def test_config_validation_refuses_with_the_key(http_filter: dict[str, Any], key: str) -> None:
    with pytest.raises(ConfigError) as info:
        validate_config(incoming(http_filter), source="podtap.json")
    message = str(info.value)
    assert f"podtap.json: feature.network.incoming.{key}: " in message
    assert "is not supported" in message and "RE2 syntax" in message


def test_config_validation_accepts_python_spellings_re2_lacks() -> None:
    config, _ = validate_config(incoming({"header_filter": r"^x-user: alice\Z"}))
    assert config.feature.network.incoming.http_filter.header_filter == r"^x-user: alice\Z"


def test_a_union_too_large_is_refused_not_built() -> None:
    with pytest.raises(FilterRegexError, match="too large"):
        compile_filter_union([r"a\w{20}", r"b\w{20}", r"c\w{20}"], ignore_case=True)


# ----------------------------------------------------------------------- same meaning as re

SAME = [
    (r"\d+", "id: ٣٤", 0),  # Unicode digits, as in Python
    (r"^\w+$", "Jérôme", 0),
    (r"a\sb", "a\u00a0b", 0),
    (r"a\Sb", "a\u00a0b", 0),
    (r"[^\s]b", "\u2003b", 0),
    (r"x\Z", "x", 0),
    (r"x\Z", "x\n", 0),
    (r"^a{,3}$", "aaa", 0),
    (r"^a{,3}$", "aaaa", 0),
    (r"[]a]", "]", 0),
    (r"[^]a]", "]", 0),
    (r"[[]", "[", 0),
    (r"[[:alpha:]]", "x", 0),  # Python: one of '[:alph', then ']'
    (r"[[:alpha:]]", "a]", 0),
    (r"\u0041\x42", "AB", 0),
    (r"a.b", "a\udce9b", 0),  # a non-UTF-8 byte, as the matcher decodes it
    (r"k", "\u212a", re.IGNORECASE),  # the Kelvin sign folds to k
    (r"(?i:X-USER): a", "x-user: a", 0),
    (r"(?P<name>al)ice", "alice", 0),
    (r"\bice", "alice", 0),
    (r"\bice", "al ice", 0),
    (r"\\d", "\\d", 0),
]


@pytest.mark.filterwarnings("ignore:Possible nested set:FutureWarning")
@pytest.mark.parametrize(("pattern", "text", "flags"), SAME)
def test_same_answer_as_python_re(pattern: str, text: str, flags: int) -> None:
    expected = re.search(pattern, text, flags) is not None
    got = compile_filter_regex(pattern, ignore_case=bool(flags)).search(text)
    assert got == expected


_SIMPLE = ["a", "b", "é", "1", "٣", " ", "-", ".", r"\d", r"\D", r"\w", r"\W", r"\s", r"\S"]
_COMPOUND = ["[ab]", "[^a]", r"[\d-]", r"[\s]", "[]a]", "(?:a|b)", "(a)", "^", "$", r"\Z", r"\."]
_ATOMS = st.sampled_from([*_SIMPLE, *_COMPOUND])
_QUANT = st.sampled_from(["", "", "*", "+", "?", "*?", "{2}", "{1,3}", "{,2}"])
_PIECE = st.tuples(_ATOMS, _QUANT).map(lambda p: p[0] if p[0] in ("^", "$", r"\Z") else p[0] + p[1])
_PATTERNS = st.lists(_PIECE, min_size=1, max_size=6).map("".join)
_TEXTS = st.text(alphabet="abAB1٣é -._\u00a0\udce9", max_size=12)


def test_word_boundary_is_ascii_unlike_python_re() -> None:
    """The one documented difference: RE2 has no Unicode ``\\b`` (Python: a boundary
    between Unicode word characters and others)."""
    assert re.search(r"\bx", "éx") is None
    assert compile_filter_regex(r"\bx").search("éx")


@settings(max_examples=400, deadline=None)
@given(pattern=_PATTERNS, text=_TEXTS, ignore_case=st.booleans())
def test_random_patterns_answer_like_python_re(pattern: str, text: str, ignore_case: bool) -> None:
    try:
        compiled = re.compile(pattern, re.IGNORECASE if ignore_case else 0)
    except re.error:
        return
    expected = compiled.search(text) is not None
    assert compile_filter_regex(pattern, ignore_case=ignore_case).search(text) == expected


_LINE_ATOMS = st.sampled_from([*_SIMPLE, *_COMPOUND, r"\A", "(?s:.)", r"[^b]", r"\n", r"\x0a"])
_LINE_PATTERNS = st.lists(st.tuples(_LINE_ATOMS, _QUANT).map("".join), min_size=1, max_size=5)
# a line may hold a newline, but never end in one: no text a filter sees does, and there
# RE2's `$` (the very end) and Python's (also before a final newline) differ, as documented
_LINES = st.lists(
    st.text(alphabet="ab1é \n", max_size=6).filter(lambda t: not t.endswith("\n")), max_size=4
)


def any_line(pattern: str, lines: list[str], *, ignore_case: bool = False) -> bool:
    flags = re.IGNORECASE if ignore_case else 0
    return any(re.search(pattern, line, flags) for line in lines)


@settings(max_examples=400, deadline=None)
@given(parts=_LINE_PATTERNS, lines=_LINES, ignore_case=st.booleans())
def test_one_search_over_joined_lines_answers_like_each_line(
    parts: list[str], lines: list[str], ignore_case: bool
) -> None:
    """Header filters search all of a head's lines in one RE2 call: never across lines,
    ``^``/``$``/``\\A``/``\\Z`` at each line's ends; a line holding a newline on its own."""
    pattern = "".join(parts)
    try:
        re.compile(pattern)
    except re.error:
        return
    regex = compile_filter_regex(pattern, ignore_case=ignore_case, lines=True)
    expected = any_line(pattern, lines, ignore_case=ignore_case)
    assert regex.search_lines(HeaderLines(lines)) == expected


@pytest.mark.parametrize(
    ("pattern", "lines"),
    [
        (r"^b", ["a: a", "b: b"]),
        (r"a$", ["x: a", "y: b"]),
        (r"\Ab", ["a: 1", "b: 2"]),
        (r"1\Z", ["a: 1", "b: 2"]),
        (r"a\sb", ["x: a", "b: 1"]),
        (r"a[^x]b", ["x: a", "b: 1"]),
        (r"(?-m:^b)", ["a: 1", "b: 2"]),
        (r"^b", ["a: 1\nb"]),
        (r"", []),
    ],
)
def test_joined_lines_edge_cases(pattern: str, lines: list[str]) -> None:
    regex = compile_filter_regex(pattern, ignore_case=True, lines=True)
    assert regex.search_lines(HeaderLines(lines)) == any_line(pattern, lines, ignore_case=True)
    union = compile_filter_union([pattern, "never-here"], ignore_case=True, lines=True)
    assert union.search_lines(HeaderLines(lines)) == any_line(pattern, lines, ignore_case=True)
