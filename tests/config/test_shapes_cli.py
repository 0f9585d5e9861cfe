"""Each config shape mirrord accepts, through ``podtap verify-config`` (issue 10, items 2-3):
it works, warns by name that it is not supported yet, or is refused with the reason."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
import typer
from typer.testing import CliRunner

from podtap.cli.config import verify_config

app = typer.Typer()
app.command("verify-config")(verify_config)
app.command("other")(lambda: None)  # keep verify-config a named sub-command

_VARS = ("PODTAP_TARGET", "MIRRORD_IMPERSONATED_TARGET", "PODTAP_KEY", "MIRRORD_KEY", "APP_NS")


@pytest.fixture
def run(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Any:
    monkeypatch.chdir(tmp_path)
    for var in _VARS:
        monkeypatch.delenv(var, raising=False)
    runner = CliRunner()

    def run(config: dict[str, Any] | str, name: str = "m.json") -> tuple[int, dict[str, Any]]:
        text = config if isinstance(config, str) else json.dumps(config)
        (tmp_path / name).write_text(text)
        r = runner.invoke(app, ["verify-config", name, "-o", "json"])
        assert "Traceback" not in r.output
        return r.exit_code, json.loads(r.stdout)

    return run


def incoming(**kw: Any) -> dict[str, Any]:
    return {"target": "deploy/web", "feature": {"network": {"incoming": kw}}}


def net(doc: dict[str, Any]) -> dict[str, Any]:
    network: dict[str, Any] = doc["config"]["feature"]["network"]
    return network


def only_error(doc: dict[str, Any]) -> tuple[str, str]:
    (error,) = doc["errors"]
    assert "\n" not in error["message"]
    return error["path"], error["message"]


@pytest.mark.parametrize("enabled", [True, False])
def test_feature_network_bool(run: Any, enabled: bool) -> None:
    code, doc = run({"feature": {"network": enabled}})
    assert code == 0, doc
    n = net(doc)
    assert n["incoming"]["mode"] == ("mirror" if enabled else "off")
    assert (n["outgoing"]["tcp"], n["outgoing"]["udp"], n["dns"]["enabled"]) == (enabled,) * 3


@pytest.mark.parametrize("value", [True, False])
def test_http_filter_bool_is_no_filter(run: Any, value: bool) -> None:
    code, doc = run(incoming(mode="steal", http_filter=value))
    assert code == 0, doc
    hf = net(doc)["incoming"]["http_filter"]
    assert all(v is None for v in hf.values())


def test_ports_single_or_list(run: Any) -> None:
    code, doc = run(incoming(ports=8080, ignore_ports=9090, http_filter={"ports": 80}))
    assert code == 0, doc
    inc = net(doc)["incoming"]
    assert (inc["ports"], inc["ignore_ports"], inc["http_filter"]["ports"]) == (
        [8080],
        [9090],
        [80],
    )
    code, doc = run(incoming(ports=[1, 2], http_filter={"header_filter": "a: b", "ports": [3]}))
    assert code == 0 and net(doc)["incoming"]["ports"] == [1, 2]
    code, doc = run(incoming(ports=70000))
    assert code == 1 and only_error(doc)[0] == "feature.network.incoming.ports[0]"


def test_nulls_mean_not_given(run: Any) -> None:
    code, doc = run({"target": None, "feature": {"network": {"incoming": {"ports": None}}}})
    assert code == 0 and doc["config"]["target"]["path"] is None


QUEUE_TYPES = [
    "SQS",
    "Kafka",
    "RMQ",
    "GCPPubSub",
    "AzureServiceBus",
    "RedisPubSub",
    "Temporal",
    "BullMQ",
]


def test_split_queues_map_and_list_every_queue_type(run: Any) -> None:
    as_map = {
        f"q{i}": {"queue_type": t, "message_filter": {"a": "^x"}} for i, t in enumerate(QUEUE_TYPES)
    }
    as_list = [{"queue_id": k, **v} for k, v in as_map.items()]
    for form in (as_map, as_list):
        code, doc = run({"feature": {"split_queues": form}})
        assert code == 0, doc
        queues = doc["config"]["feature"]["split_queues"]
        assert [(q["queue_id"], q["queue_type"]) for q in queues] == [
            (f"q{i}", t) for i, t in enumerate(QUEUE_TYPES)
        ]
        assert doc["unsupported"] == ["feature.split_queues"]
    code, doc = run({"feature": {"split_queues": {"q": {"queue_type": "RabbitMQ"}}}})
    assert code == 0 and doc["config"]["feature"]["split_queues"][0]["queue_type"] == "RMQ"
    code, doc = run({"feature": {"split_queues": {"q": {"queue_type": "MQTT"}}}})
    assert code == 1 and only_error(doc)[0] == "feature.split_queues.q.queue_type"


@pytest.mark.parametrize(
    ("target", "path"),
    [
        ("pod/web-1", "pod/web-1"),
        ("deploy/web", "deployment/web"),
        ("deployment/web/container/app", "deployment/web/container/app"),
        ("statefulset/db", "statefulset/db"),
        ("sts/db", "statefulset/db"),
        ("service/web", "service/web"),
        ("svc/web", "service/web"),
        ({"path": "deploy/web", "namespace": "shop"}, "deployment/web"),
        ({"path": {"deployment": "web", "container": "app"}}, "deployment/web/container/app"),
        ({"deployment": "web", "container": "app"}, "deployment/web/container/app"),
        ({"stateful_set": "db"}, "statefulset/db"),
        ({"pod": "web-1"}, "pod/web-1"),
    ],
)
def test_target_shapes_the_embedded_cluster_resolves(run: Any, target: Any, path: str) -> None:
    code, doc = run({"target": target})
    assert code == 0, doc
    assert doc["config"]["target"]["path"] == path


@pytest.mark.parametrize(
    ("target", "kind"),
    [
        ("rollout/web", "rollout"),
        ("job/migrate", "job"),
        ("cronjob/nightly", "cronjob"),
        ({"cron_job": "nightly"}, "cronjob"),
        ("replicaset/web-5d9", "replicaset"),
        ({"path": {"replica_set": "web-5d9"}, "namespace": "shop"}, "replicaset"),
        ("label/app=web,tier=front", "label"),
        ({"labels": {"app.kubernetes.io/name": "web"}, "container": "app"}, "label"),
    ],
)
def test_every_target_kind_is_accepted_for_the_operator_to_resolve(
    run: Any, target: Any, kind: str
) -> None:
    code, doc = run({"target": target})
    assert code == 0, doc
    assert doc["config"]["target"]["path"].startswith(f"{kind}/")


def test_targetless_is_refused_with_the_reason(run: Any) -> None:
    code, doc = run({"target": "targetless"})
    assert code == 1 and "targetless sessions are not supported yet" in only_error(doc)[1]


@pytest.mark.parametrize(
    "target",
    ["web", "deployment/", "widget/x", {"deployment": "a", "pod": "b"}, "label/", "pod/a/b"],
)
def test_bad_targets_say_the_forms(run: Any, target: Any) -> None:
    code, doc = run({"target": target})
    assert code == 1
    path, message = only_error(doc)
    assert path.startswith("target") and "is not valid" in message


def test_templates_are_rendered_before_validation(
    run: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    text = (
        '{"target": "{{ get_env(name="APP_TARGET", default="deploy/web") }}",'
        ' "key": "alice",'
        ' "feature": {"network": {"incoming": {"mode": "steal", "http_filter":'
        ' {"header_filter": "^x-session: {{ key }}$"}}}}}'
    )
    code, doc = run(text)
    assert code == 0, doc
    assert doc["config"]["target"]["path"] == "deployment/web"
    assert net(doc)["incoming"]["http_filter"]["header_filter"] == "^x-session: alice$"
    monkeypatch.setenv("APP_TARGET", "pod/web-2")
    monkeypatch.setenv("PODTAP_KEY", "bob")  # a key given outside the file wins, as in mirrord
    code, doc = run(text)
    assert doc["config"]["target"]["path"] == "pod/web-2"
    assert net(doc)["incoming"]["http_filter"]["header_filter"] == "^x-session: bob$"
    assert doc["config"]["key"] == "bob"


def test_a_missing_key_is_generated_and_said(run: Any) -> None:
    code, doc = run(incoming(mode="steal", http_filter={"header_filter": "^x-s: {{ key }}$"}))
    assert code == 0
    key = doc["config"]["key"]
    assert key.startswith("podtap-")
    assert net(doc)["incoming"]["http_filter"]["header_filter"] == f"^x-s: {key}$"
    assert any("generated key" in w for w in doc["warnings"])


@pytest.mark.parametrize(
    ("text", "words"),
    [
        ('{\n"target": "{{ get_env(name="NOPE_X") }}"}', "NOPE_X is not set"),
        ('{\n\n"target": "{{ branch }}"}', "variable branch is not defined"),
        ('{"a": 1,\n"target": "{% if x %}pod/a{% endif %}"}', "not supported"),
        ('{\n"target": "{{ key | upper }}"}', "unknown filter upper"),
    ],
)
def test_a_template_error_is_one_line_naming_file_and_line(run: Any, text: str, words: str) -> None:
    code, doc = run(text)
    assert code == 1
    path, message = only_error(doc)
    line = text[: text.index("{", 1 if text[1] != "\n" else 2)].count("\n") + 1
    assert path == "" and doc["errors"][0]["source"] == "m.json"
    assert message.startswith(f"line {line}: ") and words in message


def test_mirrord_keys_not_supported_warn_once_and_are_listed(run: Any) -> None:
    config = {
        "target": "deploy/web",
        "agent": {"ttl": 30},
        "kubeconfig": "~/.kube/config",
        "profile": "team",
        "kube_context": "dev",
        "operator": False,
        "key": "k",
        "feature": {
            "hostname": True,
            "copy_target": {"scale_down": True},
            "split_queues": {
                "q": {"queue_type": "Kafka", "payload_protobuf": {"message_type": "x.Y"}}
            },
            "network": {"ipv6": False, "incoming": {"mode": "steal", "listen_ports": [[80, 8080]]}},
        },
    }
    code, doc = run(config)
    assert code == 0, doc
    assert doc["unsupported"] == [
        "agent",
        "kubeconfig",
        "feature.hostname",
        "feature.network.ipv6",
        "feature.network.incoming.listen_ports",
        "feature.split_queues.q.payload_protobuf",
        "feature.copy_target",
        "operator",
    ]
    for key in doc["unsupported"]:
        assert sum(f"m.json: {key} is not supported yet" in w for w in doc["warnings"]) == 1
    code, doc = run({"operator": True, "feature": {"copy_target": False}})
    assert code == 0 and doc["unsupported"] == []


@pytest.mark.parametrize(
    ("config", "path"),
    [
        ({"featrue": {}}, "featrue"),
        (
            incoming(http_filter={"header_fliter": "x: 1"}),
            "feature.network.incoming.http_filter.header_fliter",
        ),
        ({"target": {"path": "pod/a", "namespce": "x"}}, "target.namespce"),
    ],
)
def test_unknown_keys_are_errors_naming_the_path(run: Any, config: Any, path: str) -> None:
    code, doc = run(config)
    assert code == 1
    assert only_error(doc) == (path, only_error(doc)[1]) and "not a known key" in only_error(doc)[1]


@pytest.mark.parametrize(
    ("http_filter", "path", "words"),
    [
        ({"header_filter": ""}, ".header_filter", "must not be empty"),
        ({"path_filter": ""}, ".path_filter", "must not be empty"),
        ({"method_filter": ""}, ".method_filter", "must not be empty"),
        ({"all_of": [{"header": ""}]}, ".all_of[0].header", "must not be empty"),
        ({"body_filter": {"body": "json", "query": ".a", "matches": "x"}}, "", "body_filter"),
        ({"header_filter_jq": ".a"}, "", "header_filter_jq"),
        (
            {"any_of": [{"path": "^/a"}, {"body": "json", "query": ".a", "matches": "x"}]},
            ".any_of[1]",
            "body",
        ),
        ({"all_of": [{"query": ".a"}]}, ".all_of[0]", "jq"),
    ],
)
def test_filters_that_would_widen_the_steal_are_refused(
    run: Any, http_filter: dict[str, Any], path: str, words: str
) -> None:
    code, doc = run(incoming(mode="steal", http_filter=http_filter))
    assert code == 1
    error_path, message = only_error(doc)
    assert error_path == "feature.network.incoming.http_filter" + path and words in message
