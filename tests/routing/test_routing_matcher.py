"""CompiledFilter semantics and RouteTable precedence."""

from __future__ import annotations

import pytest

from podtap.core.protocol import HttpFilter, InvalidHttpFilter
from podtap.core.routing import CompiledFilter, RequestHead, RouteMatch, RouteTable


def req(
    target: str = "/api/users?id=7",
    *,
    method: str = "GET",
    headers: tuple[tuple[bytes, bytes], ...] = ((b"Host", b"svc"), (b"X-User", b"Alice")),
) -> RequestHead:
    return RequestHead(method, target, headers, "1.1")


def matches(flt: HttpFilter, head: RequestHead) -> bool:
    return CompiledFilter(flt).matches(head)


def test_header_is_searched_in_each_name_value_line_ignoring_case() -> None:
    assert matches(HttpFilter(header=r"x-user: alice"), req())
    assert matches(HttpFilter(header=r"^X-USER: Ali"), req())
    assert matches(HttpFilter(header=r"lic"), req())
    assert not matches(HttpFilter(header=r"x-user: bob"), req())
    assert not matches(HttpFilter(header=r"svc.X-User"), req())  # one line at a time
    assert matches(HttpFilter(header=r"^host: svc$"), req())


def test_non_utf8_header_bytes_do_not_break_matching() -> None:
    head = req(headers=((b"X-Name", b"J\xe9r\xf4me"),))
    assert matches(HttpFilter(header=r"x-name: J"), head)


def test_path_is_searched_without_then_with_query() -> None:
    assert matches(HttpFilter(path=r"^/api/"), req())
    assert matches(HttpFilter(path=r"^/api/users$"), req())  # path alone
    assert matches(HttpFilter(path=r"id=7"), req())  # path plus query
    assert not matches(HttpFilter(path=r"^/API/"), req())  # case-sensitive
    assert matches(HttpFilter(path=r"^/x$"), req("http://svc:8080/x"))  # absolute form
    assert matches(HttpFilter(path=r"^/$"), req("http://svc"))


def test_method_ignores_case() -> None:
    assert matches(HttpFilter(method="get"), req())
    assert not matches(HttpFilter(method="POST"), req())


def test_all_of_any_of_and_conditions_combine() -> None:
    user = HttpFilter(header="x-user: alice")
    post = HttpFilter(method="POST")
    assert matches(HttpFilter(any_of=(post, user)), req())
    assert not matches(HttpFilter(all_of=(post, user)), req())
    assert matches(HttpFilter(path="^/api", any_of=(post, user)), req())
    assert not matches(HttpFilter(path="^/web", any_of=(post, user)), req())
    nested = HttpFilter(all_of=(HttpFilter(any_of=(post, HttpFilter(path="users"))), user))
    assert matches(nested, req())


def test_invalid_filters_are_refused() -> None:
    with pytest.raises(InvalidHttpFilter):
        CompiledFilter(HttpFilter(header="("))


def test_route_table_earliest_wins_and_names_the_others() -> None:
    table = RouteTable()
    table.add("first", HttpFilter(path="^/api"))
    table.add("second", CompiledFilter(HttpFilter(header="x-user")))
    table.add("third", HttpFilter(method="POST"))
    assert table(req()) == "first"
    assert table.match(req()) == RouteMatch("first", ("second",))
    assert table.match(req("/web", method="PUT", headers=())) == RouteMatch(None)
    table.remove("first")
    assert table(req()) == "second"
    assert list(table) == ["second", "third"] and len(table) == 2 and "third" in table
    with pytest.raises(ValueError, match="already"):
        table.add("second", HttpFilter(path="/"))
    with pytest.raises(ValueError, match="None"):
        table.add(None, HttpFilter(path="/"))
