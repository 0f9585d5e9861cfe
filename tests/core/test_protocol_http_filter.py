from __future__ import annotations

import pytest

from podtap.core.protocol import HttpFilter, InvalidHttpFilter


def test_valid_filters() -> None:
    HttpFilter(header=r"x-user: alice").validate()
    HttpFilter(path=r"^/api/", method="POST").validate()
    flt = HttpFilter(any_of=(HttpFilter(header="a"), HttpFilter(all_of=(HttpFilter(path="/"),))))
    flt.validate()
    assert flt.describe() == "any_of(header=~'a', all_of(path=~'/'))"
    assert hash(flt) == hash(HttpFilter(any_of=flt.any_of))


@pytest.mark.parametrize(
    ("flt", "match"),
    [
        (HttpFilter(), "http filter: empty filter"),
        (HttpFilter(header="("), r"http filter\.header: invalid regex '\('"),
        (HttpFilter(path="[a-"), r"http filter\.path: invalid regex"),
        (HttpFilter(method="GE T"), r"http filter\.method: 'GE T' is not an HTTP method"),
        (HttpFilter(method=""), "not an HTTP method"),
        (
            HttpFilter(all_of=(HttpFilter(header="ok"), HttpFilter(header="*"))),
            r"http filter\.all_of\[1\]\.header: invalid regex '\*'",
        ),
        (HttpFilter(any_of=(HttpFilter(),)), r"any_of\[0\]: empty filter"),
    ],
)
def test_invalid_filters_name_the_part(flt: HttpFilter, match: str) -> None:
    with pytest.raises(InvalidHttpFilter, match=match):
        flt.validate()


def test_nesting_is_bounded() -> None:
    flt = HttpFilter(path="/")
    for _ in range(10):
        flt = HttpFilter(all_of=(flt,))
    with pytest.raises(InvalidHttpFilter, match="nested deeper than 8"):
        flt.validate()
