"""ExecSpec: every config filter reaches the agent exactly, or the run is refused by key."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from podtap.core.arbitration import OnConcurrentSteal
from podtap.core.config import ConfigError, HttpFilterConfig, resolve_config, validate_config
from podtap.core.exec_spec import ExecSpec, IncomingPlan, plan_of, wire_filter
from podtap.core.ids import Port
from podtap.core.protocol import HttpFilter, IncomingMode

HF = "feature.network.incoming.http_filter"


def spec_of(http_filter: dict[str, Any], *, mode: str = "steal", **top: Any) -> ExecSpec:
    doc = {"feature": {"network": {"incoming": {"mode": mode, "http_filter": http_filter}}}}
    config, _ = validate_config({**doc, **top}, source="m.json")
    return ExecSpec.from_config(config)


@pytest.mark.parametrize(
    ("http_filter", "wire"),
    [
        ({"header_filter": "x-user: me"}, HttpFilter(header="x-user: me")),
        ({"path_filter": "^/api/"}, HttpFilter(path="^/api/")),
        ({"method_filter": "post"}, HttpFilter(method="POST")),
        (
            {"all_of": [{"header": "^x-user: me$"}, {"path": "^/mine"}, {"method": "GET"}]},
            HttpFilter(
                all_of=(
                    HttpFilter(header="^x-user: me$"),
                    HttpFilter(path="^/mine"),
                    HttpFilter(method="GET"),
                )
            ),
        ),
        (
            {"any_of": [{"header": "baggage: .*s=1"}, {"path": "^/a$"}]},
            HttpFilter(any_of=(HttpFilter(header="baggage: .*s=1"), HttpFilter(path="^/a$"))),
        ),
        ({}, None),
    ],
)
def test_each_filter_form_reaches_the_wire_exactly(
    http_filter: dict[str, Any], wire: HttpFilter | None
) -> None:
    plan = spec_of(http_filter).session.incoming
    assert plan.http_filter == wire
    assert plan.filter_for(8080) == wire  # no `ports`: the filter applies on every port


def test_nested_composites_reach_the_wire() -> None:
    """An item holding any_of itself (not in mirrord's schema yet) is carried, not dropped."""
    config = HttpFilterConfig.model_validate(
        {"all_of": [{"header": "a", "any_of": [{"path": "^/x"}, {"method": "get"}]}]}
    )
    assert wire_filter(config) == HttpFilter(
        all_of=(HttpFilter(header="a", any_of=(HttpFilter(path="^/x"), HttpFilter(method="get"))),)
    )
    deep: dict[str, Any] = {"header": "a"}
    for _ in range(9):
        deep = {"header": "a", "all_of": [deep]}
    with pytest.raises(ConfigError, match=f"{HF}: nested deeper than 8 levels"):
        wire_filter(HttpFilterConfig.model_validate({"all_of": [deep]}))


def refusal(http_filter: dict[str, Any], env: dict[str, str] | None = None) -> str:
    """The error of a run with this filter, from whichever layer refuses it first (the
    config models, or the spec): either way before any port is subscribed."""
    doc = {"feature": {"network": {"incoming": {"mode": "steal", "http_filter": http_filter}}}}
    with pytest.raises(ConfigError) as caught:
        config, _ = validate_config(doc, source="m.json")
        if env is not None:
            config, _ = resolve_config(cwd=Path("/nonexistent"), env=env, cli={"steal": True})
        ExecSpec.from_config(config)
    return str(caught.value)


@pytest.mark.parametrize(
    ("http_filter", "key"),
    [
        ({"header_filter": ""}, f"{HF}.header_filter"),
        ({"path_filter": ""}, f"{HF}.path_filter"),
        ({"method_filter": ""}, f"{HF}.method_filter"),
        ({"all_of": [{"header": "a"}, {"path": ""}]}, f"{HF}.all_of[1].path"),
        ({"any_of": [{"method": ""}]}, f"{HF}.any_of[0].method"),
    ],
)
def test_an_empty_filter_string_is_an_error_naming_the_key(
    http_filter: dict[str, Any], key: str
) -> None:
    text = refusal(http_filter)
    assert f"{key}: " in text and "empty" in text, text


def test_the_spec_refuses_an_empty_string_the_models_let_through() -> None:
    """The spec's own check (the models refuse it too: two locks on one door)."""
    config = HttpFilterConfig.model_construct(path_filter="")
    with pytest.raises(ConfigError, match=f"{HF}.path_filter: an empty filter would match"):
        wire_filter(config)


@pytest.mark.parametrize(
    "extra",
    [
        {"body_filter": {"body": "json", "query": "$.user", "matches": "me"}},
        {"header_filter_jq": '. == "x-user: me"'},
    ],
)
def test_a_filter_form_the_agent_cannot_apply_is_an_error_naming_the_key(
    extra: dict[str, Any],
) -> None:
    (key,) = extra
    assert f"{HF}.{key}" in refusal(extra) or f"{key}: " in refusal(extra)
    unvalidated = HttpFilterConfig.model_construct(**extra)  # kept as an extra key
    with pytest.raises(ConfigError, match=rf"{HF}\.{key}: this filter form is not supported"):
        wire_filter(unvalidated)


def test_an_unknown_key_in_a_filter_is_refused_not_dropped() -> None:
    config = HttpFilterConfig.model_construct(header_filer="x-user: me")  # a typo
    with pytest.raises(ConfigError, match=rf"{HF}\.header_filer: this filter form"):
        wire_filter(config)


def test_an_empty_header_filter_from_the_environment_is_refused() -> None:
    text = refusal({}, env={"MIRRORD_HTTP_HEADER_FILTER": ""})
    assert f"{HF}.header_filter: " in text and "empty" in text, text


def test_http_filter_ports_filter_those_ports_and_the_others_follow_mode() -> None:
    plan = spec_of({"header_filter": "x-user: me", "ports": [8080, 9090]}).session.incoming
    assert plan.filter_ports == frozenset({Port(8080), Port(9090)})
    assert plan.filter_for(8080) == HttpFilter(header="x-user: me")
    assert plan.filter_for(9090) == HttpFilter(header="x-user: me")
    assert plan.filter_for(3000) is None  # the whole port, stolen (mirrord's meaning)
    assert plan.describe() == [
        "incoming: steal every port the app listens on",
        "  ports 8080, 9090: only requests matching header=~'x-user: me'",
        "  other ports: the whole port (not in http_filter.ports)",
    ]


def test_mirror_subscriptions_carry_no_filter_and_say_so() -> None:
    spec = spec_of({"header_filter": "x-user: me"}, mode="mirror")
    assert spec.session.incoming.http_filter == HttpFilter(header="x-user: me")
    assert spec.session.incoming.filter_for(8080) is None
    assert [str(n) for n in spec.notices] == [
        f"{HF}: applies when mode is steal; mirror copies every request"
    ]


def test_port_choices_and_off() -> None:
    plan = IncomingPlan(
        mode=IncomingMode.STEAL,
        ports=frozenset({Port(80)}),
        ignore_ports=frozenset({Port(81)}),
        port_mapping=((Port(3000), Port(80)), (Port(3001), Port(81))),
    )
    assert plan.remote_port(3000) == 80
    assert plan.remote_port(3001) is None and plan.remote_port(81) is None
    assert plan.remote_port(8080) is None  # not in `ports`
    off = spec_of({}, mode="off").session.incoming
    assert off.mode is None and off.describe() == ["incoming: off (no port is subscribed)"]


def test_the_session_part_and_the_flags_precedence(tmp_path: Path) -> None:
    (tmp_path / "podtap.json").write_text(
        '{"target": {"path": "deployment/shop", "namespace": "web"}, "key": "file-key",'
        ' "feature": {"network": {"incoming": {"on_concurrent_steal": "continue"}}}}'
    )
    config, _ = resolve_config(
        cwd=tmp_path,
        env={"PODTAP_KEY": "env-key", "PODTAP_PROFILE": "env-profile"},
        cli={
            "profile": "flag-profile",
            "kube_context": "kind-dev",
            "no_outgoing": True,
            "no_remote_dns": True,
            "feature.network.incoming.on_concurrent_steal": "override",
        },
    )
    spec = ExecSpec.from_config(config, argv=["app", "--x"])
    s = spec.session
    assert (s.target, s.namespace, s.key, s.profile) == (
        "deployment/shop",
        "web",
        "env-key",  # env over file
        "flag-profile",  # flag over env
    )
    assert s.on_concurrent_steal is OnConcurrentSteal.OVERRIDE  # flag over file
    assert spec.kube_context == "kind-dev" and spec.argv == ("app", "--x")
    assert not spec.network.outgoing.tcp and not spec.network.outgoing.udp
    assert not spec.network.dns.enabled
    assert spec.notices == ()  # kube_context and profile are acted on


def test_plan_of_is_the_json_verify_config_shows() -> None:
    config, _ = validate_config(
        {
            "target": "deployment/shop",
            "feature": {
                "network": {
                    "incoming": {
                        "mode": "steal",
                        "http_filter": {"any_of": [{"header": "a"}, {"method": "GET"}]},
                    }
                }
            },
        }
    )
    plan = plan_of(config)
    assert plan["incoming"]["http_filter"] == {"any_of": [{"header": "a"}, {"method": "GET"}]}
    assert plan["incoming"]["http_filter_ports"] is None
    assert plan["incoming"]["text"][1] == (
        "  every port: only requests matching any_of(header=~'a', method=GET)"
    )
    assert plan["target"] == "deployment/shop" and plan["on_concurrent_steal"] == "abort"
