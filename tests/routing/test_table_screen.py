"""RouteTable's one-regex screen must never change who gets a request."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from podtap.core.protocol import HttpFilter
from podtap.core.routing import RequestHead, RouteTable

NAMES = ["x-user", "x-team", "accept"]
VALUES = ["alice", "bob", "carol", "a", ""]
patterns = st.builds(
    lambda n, v, anchored: f"^{n}: {v}$" if anchored else f"{n}: {v}",
    st.sampled_from(NAMES),
    st.sampled_from(VALUES),
    st.booleans(),
)
filters = st.one_of(
    patterns.map(lambda p: HttpFilter(header=p)),
    st.sampled_from(["/api", "^/other"]).map(lambda p: HttpFilter(path=p)),
    st.just(HttpFilter(header=r"(?-i:X-User): a")),  # an inline flag: scoped in the union
)


def naive(entries: list[HttpFilter], head: RequestHead) -> int | None:
    from podtap.core.routing import CompiledFilter

    return next((i for i, f in enumerate(entries) if CompiledFilter(f).matches(head)), None)


@given(
    st.lists(filters, min_size=0, max_size=12),
    st.lists(st.tuples(st.sampled_from(NAMES), st.sampled_from(VALUES)), max_size=3),
    st.sampled_from(["/api/x", "/other", "/"]),
)
def test_screened_table_routes_like_checking_every_filter(
    entries: list[HttpFilter], headers: list[tuple[str, str]], path: str
) -> None:
    table = RouteTable()
    for i, flt in enumerate(entries):
        table.add(i, flt)
    head = RequestHead("GET", path, tuple((n.encode(), v.encode()) for n, v in headers))
    assert table(head) == naive(entries, head)
    if entries:
        table.remove(0)
        assert table(head) == (None if (hit := naive(entries[1:], head)) is None else hit + 1)


def test_many_filters_unmatched_and_matched_last() -> None:
    table = RouteTable()
    for i in range(500):
        table.add(i, HttpFilter(header=rf"^x-user: user-{i}$"))
    nobody = RequestHead("GET", "/", ((b"x-user", b"nobody"),))
    last = RequestHead("GET", "/", ((b"X-User", b"user-499"),))
    assert table(nobody) is None and table(last) == 499
