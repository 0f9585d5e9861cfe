"""Label selectors: the cases of apimachinery's selector_test.go, and the server's messages."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from podtap.core.kube.label_selector import (
    from_label_selector,
    matches_label_selector,
    to_label_selector,
)
from podtap.core.kube.selector_parser import parse_selector
from podtap.core.kube.selectors import Operator, Requirement, SelectorError, new_requirement

VALUE_MSG = (
    "a valid label must be an empty string or consist of alphanumeric characters, '-', '_' or "
    "'.', and must start and end with an alphanumeric character (e.g. 'MyValue',  or "
    "'my_value',  or '12345', regex used for validation is '(([A-Za-z0-9][-A-Za-z0-9_.]*)?"
    "[A-Za-z0-9])?')"
)
KEY_MSG = (
    "name part must consist of alphanumeric characters, '-', '_' or '.', and must start and "
    "end with an alphanumeric character (e.g. 'MyName',  or 'my.name',  or '123-abc', regex "
    "used for validation is '([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9]')"
)


@pytest.mark.parametrize(
    "text",
    ["x=a,y=b,z=c", "", "x!=a,y=b", "x=", "x= ", "x=,z= ", "x= ,z= ", "!x", "x>1", "x>1,z<5"],
)
def test_good_strings_print_back_without_blanks(text: str) -> None:
    assert str(parse_selector(text)) == text.replace(" ", "")


@pytest.mark.parametrize("text", ["x=a||y=b", "x==a==b", "!x=a", "x<a"])
def test_bad_strings_are_refused(text: str) -> None:
    with pytest.raises(SelectorError):
        parse_selector(text)


def test_parsing_is_deterministic() -> None:
    assert str(parse_selector("x=a,a=x")) == str(parse_selector("a=x,x=a")) == "a=x,x=a"


@pytest.mark.parametrize(
    ("text", "labels", "expected"),
    [
        ("", {"x": "y"}, True),
        ("x=y", {"x": "y"}, True),
        ("x=y,z=w", {"x": "y", "z": "w"}, True),
        ("x!=y,z!=w", {"x": "z", "z": "a"}, True),
        ("notin=in", {"notin": "in"}, True),
        ("x", {"x": "z"}, True),
        ("!x", {"y": "z"}, True),
        ("x>1", {"x": "2"}, True),
        ("x<1", {"x": "0"}, True),
        ("x=z", {}, False),
        ("x=y", {"x": "z"}, False),
        ("x=y,z=w", {"x": "w", "z": "w"}, False),
        ("x!=y,z!=w", {"x": "z", "z": "w"}, False),
        ("x", {"y": "z"}, False),
        ("!x", {"x": "z"}, False),
        ("x>1", {"x": "0"}, False),
        ("x<1", {"x": "2"}, False),
        ("z>1", {"z": "v2"}, False),
        ("x notin ()", {"y": ""}, True),
        ("x in ()", {"y": "baz"}, False),
        ("foo=bar,foobar=bar,baz=blah", {"foo": "bar", "baz": "blah"}, False),
    ],
)
def test_matching(text: str, labels: dict[str, str], expected: bool) -> None:
    assert parse_selector(text).matches(labels) is expected


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("\rx", "x"),
        ("this-is-a-dns.domain.com/key-with-dash", "this-is-a-dns.domain.com/key-with-dash"),
        (
            "0.1.2.domain/99 notin (10.10.100.1, tick.tack.clock)",
            "0.1.2.domain/99 notin (10.10.100.1,tick.tack.clock)",
        ),
        ("foo  in\t (abc)", "foo in (abc)"),
        ("x notin\n (abc)", "x notin (abc)"),
        ("x in (abc,)", "x in (,abc)"),
        ("x in ()", "x in ()"),
        ("x notin (abc,def),bar,z in (),w", "bar,w,x notin (abc,def),z in ()"),
        ("x,y in (a)", "x,y in (a)"),
        ("x notin ( )", "x notin ()"),
        ("x notin (, a)", "x notin (,a)"),
        ("a ", "a"),
        ("a in (x,y,notin, z,in)", "a in (in,notin,x,y,z)"),
        ("app,tier", "app,tier"),
    ],
)
def test_set_based_syntax(text: str, expected: str) -> None:
    assert str(parse_selector(text)) == expected


@pytest.mark.parametrize(
    ("text", "message"),
    [
        (",x,y", "found ',', expected: !, identifier, or 'end of string'"),
        (
            "x nott in (y)",
            "unable to parse requirement: found 'nott', expected: in, notin, =, ==, !=, gt, lt",
        ),
        ("a in (xyz),", "found '', expected: identifier after ','"),
        ("a in (xyz)b notin ()", "found 'b', expected: ',' or 'end of string'"),
        ("a in (xyz abc)", "unable to parse requirement: found 'abc', expected: ',' or ')'"),
        ("a notin(", "unable to parse requirement: found '', expected: ',', ')' or identifier"),
        ("a (", "unable to parse requirement: found '(', expected: in, notin, =, ==, !=, gt, lt"),
        ("(", "found '(', expected: !, identifier, or 'end of string'"),
        ("x in y", "unable to parse requirement: found 'y' expected: '('"),
        ("x==a==b", "found '==', expected: ',' or 'end of string'"),
        ("x>=1", "unable to parse requirement: found '=', expected: identifier"),
        (
            "x<a",
            'unable to parse requirement: values[0]: Invalid value: "a": '
            "for 'Gt', 'Lt' operators, the value must be an integer",
        ),
        ("x=a@", f'unable to parse requirement: values[0][x]: Invalid value: "a@": {VALUE_MSG}'),
        ("a@b", f'unable to parse requirement: <nil>: Invalid value: "a@b": {KEY_MSG}'),
        (
            "x=" + "a" * 64,
            f'unable to parse requirement: values[0][x]: Invalid value: "{"a" * 64}": '
            "must be no more than 63 bytes",
        ),
        (
            "/x",
            'unable to parse requirement: <nil>: Invalid value: "/x": '
            "prefix part must be non-empty",
        ),
    ],
)
def test_errors_carry_apimachinerys_words(text: str, message: str) -> None:
    with pytest.raises(SelectorError) as caught:
        parse_selector(text)
    assert str(caught.value) == message


def test_several_bad_values_are_aggregated_in_sorted_order() -> None:
    with pytest.raises(SelectorError) as caught:
        parse_selector("x in (b@,a@)")
    assert str(caught.value) == (
        f'unable to parse requirement: [values[0][x]: Invalid value: "a@": {VALUE_MSG}, '
        f'values[1][x]: Invalid value: "b@": {VALUE_MSG}]'
    )


@pytest.mark.parametrize(
    ("key", "op", "values", "ok"),
    [
        ("x", Operator.IN, (), False),
        ("x", Operator.NOT_IN, (), False),
        ("x", Operator.IN, ("foo",), True),
        ("x", Operator.NOT_IN, ("foo",), True),
        ("x", Operator.EXISTS, (), True),
        ("x", Operator.DOES_NOT_EXIST, (), True),
        ("1foo", Operator.IN, ("bar",), True),
        ("1234", Operator.IN, ("bar",), True),
        ("y", Operator.GREATER_THAN, ("1",), True),
        ("z", Operator.LESS_THAN, ("6",), True),
        ("foo", Operator.GREATER_THAN, ("bar",), False),
        ("barz", Operator.LESS_THAN, ("blah",), False),
        ("a" * 254, Operator.EXISTS, (), False),
    ],
)
def test_requirement_constructor(key: str, op: Operator, values: tuple[str, ...], ok: bool) -> None:
    if ok:
        assert new_requirement(key, op, values) == Requirement(key, op, values)
    else:
        with pytest.raises(SelectorError):
            new_requirement(key, op, values)


def test_requirement_constructor_messages() -> None:
    with pytest.raises(SelectorError) as caught:
        new_requirement("x", Operator.IN, [])
    assert (
        str(caught.value) == "values: Invalid value: []string{}: "
        "for 'in', 'notin' operators, values set can't be empty"
    )
    with pytest.raises(SelectorError) as caught:
        new_requirement("x", Operator.EXISTS, ["a"], path="spec.selector")
    assert str(caught.value) == (
        'spec.selector.values: Invalid value: []string{"a"}: '
        "values set must be empty for exists and does not exist"
    )
    with pytest.raises(SelectorError) as caught:
        new_requirement("x", "Foo")
    assert str(caught.value) == (
        'operator: Unsupported value: "Foo": supported values: "in", "notin", "=", "==", "!=", '
        '"gt", "lt", "exists", "!"'
    )


def test_structured_selector_nil_matches_nothing_and_empty_everything() -> None:
    assert not matches_label_selector(None, {})
    assert matches_label_selector({}, {"a": "b"})
    assert matches_label_selector({"matchLabels": {}, "matchExpressions": []}, {})


def test_structured_selector_operators() -> None:
    selector = {
        "matchLabels": {"app": "web"},
        "matchExpressions": [
            {"key": "tier", "operator": "In", "values": ["front", "back"]},
            {"key": "env", "operator": "NotIn", "values": ["prod"]},
            {"key": "team", "operator": "Exists"},
            {"key": "legacy", "operator": "DoesNotExist"},
        ],
    }
    assert (
        str(from_label_selector(selector))
        == "app=web,env notin (prod),!legacy,team,tier in (back,front)"
    )
    assert matches_label_selector(selector, {"app": "web", "tier": "front", "team": "a"})
    assert not matches_label_selector(
        selector, {"app": "web", "tier": "front", "team": "a", "legacy": ""}
    )
    assert not matches_label_selector(
        selector, {"app": "web", "tier": "front", "team": "a", "env": "prod"}
    )


def test_structured_selector_errors() -> None:
    with pytest.raises(SelectorError) as caught:
        from_label_selector({"matchExpressions": [{"key": "a", "operator": "Gt", "values": ["1"]}]})
    assert str(caught.value) == '"Gt" is not a valid pod selector operator'
    with pytest.raises(SelectorError) as caught:
        from_label_selector({"matchExpressions": [{"key": "a", "operator": "In"}]})
    assert "values: Invalid value: []string{}: for 'in', 'notin' operators" in str(caught.value)
    with pytest.raises(SelectorError) as caught:
        from_label_selector({"matchLabels": {"a": "b c"}})
    assert str(caught.value).startswith('values[0][a]: Invalid value: "b c": a valid label')


def test_to_label_selector_refuses_numeric_operators() -> None:
    assert to_label_selector("a=b,c in (d)") == {
        "matchLabels": {"a": "b"},
        "matchExpressions": [{"key": "c", "operator": "In", "values": ["d"]}],
    }
    with pytest.raises(SelectorError) as caught:
        to_label_selector("a>1")
    assert str(caught.value) == '"gt" isn\'t supported in label selectors'


KEYS = st.from_regex(
    r"\A([a-z0-9]([-a-z0-9]*[a-z0-9])?\.)?[A-Za-z0-9]([-A-Za-z0-9_.]{0,8}[A-Za-z0-9])?\Z"
)
VALUES = st.from_regex(r"\A([A-Za-z0-9]([-A-Za-z0-9_.]{0,8}[A-Za-z0-9])?)?\Z")
LABELS = st.dictionaries(KEYS, VALUES, max_size=4)


@st.composite
def structured(draw: st.DrawFn) -> dict[str, object]:
    expressions = []
    for key in draw(st.lists(KEYS, max_size=4, unique=True)):
        op = draw(st.sampled_from(["In", "NotIn", "Exists", "DoesNotExist"]))
        entry: dict[str, object] = {"key": key, "operator": op}
        if op in ("In", "NotIn"):
            entry["values"] = sorted(draw(st.sets(VALUES, min_size=1, max_size=3)))
        expressions.append(entry)
    match_labels = draw(st.dictionaries(KEYS, VALUES, max_size=3))
    match_labels = {
        k: v for k, v in match_labels.items() if k not in {e["key"] for e in expressions}
    }
    return {"matchLabels": match_labels, "matchExpressions": expressions}


@given(structured(), LABELS)
def test_string_and_structured_forms_round_trip(
    selector: dict[str, object], labels: dict[str, str]
) -> None:
    text = str(from_label_selector(selector))
    reparsed = parse_selector(text)
    assert str(reparsed) == text
    assert reparsed.matches(labels) == from_label_selector(selector).matches(labels)
    back = to_label_selector(text)
    assert back["matchLabels"] == selector["matchLabels"]
    expected = sorted(selector["matchExpressions"], key=lambda e: e["key"])  # type: ignore[arg-type,index]
    assert back["matchExpressions"] == expected
