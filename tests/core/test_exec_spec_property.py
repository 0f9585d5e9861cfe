"""For any config `http_filter`, the filter the agent applies (the spec's HttpFilter, compiled
by core/routing) matches a request exactly when the config's filter, read by an independent
reference evaluator of mirrord's semantics, matches it: never a broader steal."""

from __future__ import annotations

import re
from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

from podtap.core.config import validate_config
from podtap.core.exec_spec import ExecSpec
from podtap.core.routing.matcher import CompiledFilter, RequestHead

# --------------------------------------------------------------------------- strategies

# A regex grammar on which Python's re and RE2 agree (no lookaround, no backreferences).
_CHARS = "abAB/-: ="
_atom = st.one_of(
    st.sampled_from(list(_CHARS)).map(re.escape),
    st.sampled_from([".", "[ab]", "[^a]", "[a-b/]", r"\d", "x"]),
)


def _regex(depth: int = 2) -> st.SearchStrategy[str]:
    piece = st.tuples(_atom, st.sampled_from(["", "", "*", "+", "?", "{1,2}"])).map("".join)
    seq = st.lists(piece, min_size=1, max_size=4).map("".join)
    if depth:
        group = st.lists(_regex(depth - 1), min_size=1, max_size=2).map(
            lambda alts: "(" + "|".join(alts) + ")"
        )
        seq = st.lists(st.one_of(piece, group), min_size=1, max_size=3).map("".join)
    return st.tuples(st.sampled_from(["", "^"]), seq, st.sampled_from(["", "$"])).map("".join)


_methods = st.sampled_from(["GET", "get", "POST", "PUT", "DELETE"])
_item = st.one_of(
    _regex().map(lambda r: {"header": r}),
    _regex().map(lambda r: {"path": r}),
    _methods.map(lambda m: {"method": m}),
)
http_filters = st.one_of(
    _regex().map(lambda r: {"header_filter": r}),
    _regex().map(lambda r: {"path_filter": r}),
    _methods.map(lambda m: {"method_filter": m}),
    st.lists(_item, min_size=1, max_size=4).map(lambda items: {"all_of": items}),
    st.lists(_item, min_size=1, max_size=4).map(lambda items: {"any_of": items}),
)

_text = st.text(alphabet="abAB/-:= x1", max_size=12)
requests = st.builds(
    lambda method, path, query, headers: RequestHead(
        method=method,
        target="/" + path + (f"?{query}" if query is not None else ""),
        headers=tuple((n.encode(), v.encode()) for n, v in headers),
    ),
    st.sampled_from(["GET", "POST", "PUT", "get"]),
    _text,
    st.one_of(st.none(), _text),
    st.lists(st.tuples(st.sampled_from(["x-user", "X-User", "baggage", "a"]), _text), max_size=3),
)

# --------------------------------------------------------------------------- reference


def _ref_header(pattern: str, req: RequestHead) -> bool:
    lines = [f"{n.decode()}: {v.decode()}" for n, v in req.headers]
    return any(re.search(pattern, line, re.IGNORECASE) for line in lines)


def _ref_path(pattern: str, req: RequestHead) -> bool:
    path = req.target.partition("?")[0]
    return bool(re.search(pattern, path)) or (
        "?" in req.target and bool(re.search(pattern, req.target))
    )


def _ref_item(item: dict[str, str], req: RequestHead) -> bool:
    ((kind, value),) = item.items()
    if kind == "header":
        return _ref_header(value, req)
    if kind == "path":
        return _ref_path(value, req)
    return req.method.upper() == value.upper()


def reference(config: dict[str, Any], req: RequestHead) -> bool:
    """mirrord's `http_filter`, read from the config as documented."""
    ((key, value),) = config.items()
    if key == "all_of":
        return all(_ref_item(i, req) for i in value)
    if key == "any_of":
        return any(_ref_item(i, req) for i in value)
    return _ref_item({key.removesuffix("_filter"): value}, req)


# --------------------------------------------------------------------------- properties


def _applied(http_filter: dict[str, Any]) -> CompiledFilter:
    doc = {"feature": {"network": {"incoming": {"mode": "steal", "http_filter": http_filter}}}}
    config, warnings = validate_config(doc)
    assert warnings == []
    flt = ExecSpec.from_config(config).session.incoming.filter_for(8080)
    assert flt is not None  # a filter is set: never a whole-port steal
    return CompiledFilter(flt)  # what the agent's table compiles


@settings(max_examples=400, deadline=None)
@given(http_filters, st.lists(requests, min_size=1, max_size=5))
def test_the_agent_steals_a_request_only_if_the_config_filter_matches_it(
    http_filter: dict[str, Any], reqs: list[RequestHead]
) -> None:
    compiled = _applied(http_filter)
    for req in reqs:
        assert compiled.matches(req) == reference(http_filter, req), (http_filter, req)


@given(
    st.one_of(st.none(), st.sets(st.integers(1, 20), max_size=5)),
    st.integers(1, 20),
)
def test_http_filter_ports_decide_per_port(ports: set[int] | None, port: int) -> None:
    http_filter: dict[str, Any] = {"header_filter": "x-user: me"}
    if ports is not None:
        http_filter["ports"] = sorted(ports)
    doc = {"feature": {"network": {"incoming": {"mode": "steal", "http_filter": http_filter}}}}
    plan = ExecSpec.from_config(validate_config(doc)[0]).session.incoming
    filtered = plan.filter_for(port) is not None
    assert filtered == (ports is None or port in ports)
