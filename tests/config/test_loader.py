"""Finding and parsing config files, precedence (file < env < CLI), errors with paths."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from podtap.core.config import ConfigError, resolve_config

MIRRORD_JSON = {
    "target": {"path": "deployment/api", "namespace": "shop"},
    "feature": {
        "env": {"include": "DB_*;API_KEY"},
        "fs": "read",
        "network": {
            "incoming": {"mode": "steal", "http_filter": {"header_filter": "x-user: alice"}},
            "outgoing": {"filter": {"local": ["127.0.0.1/8"]}},
            "dns": True,
        },
    },
}

MIRRORD_TOML = """
target = "deployment/api"
[feature.fs]
mode = "write"
[feature.network.incoming]
mode = "steal"
tls_delivery = { protocol = "tcp" }
"""

MIRRORD_YAML = """
target: {path: deployment/api, namespace: shop}
feature:
  network:
    incoming: steal
    dns: false
"""


def write(path: Path, text: str) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)
    return path


def test_no_file_gives_defaults(tmp_path: Path) -> None:
    config, warnings = resolve_config(cwd=tmp_path, env={})
    assert config.target.path is None and warnings == []


@pytest.mark.parametrize(
    ("name", "text"),
    [
        (".mirrord/mirrord.json", json.dumps(MIRRORD_JSON)),
        (".mirrord/mirrord.toml", MIRRORD_TOML),
        (".mirrord/mirrord.yaml", MIRRORD_YAML),
        (".mirrord/mirrord.yml", MIRRORD_YAML),
        ("podtap.json", json.dumps(MIRRORD_JSON)),
        ("podtap.toml", MIRRORD_TOML),
        ("podtap.yaml", MIRRORD_YAML),
    ],
)
def test_discovered_files_and_formats(tmp_path: Path, name: str, text: str) -> None:
    write(tmp_path / name, text)
    config, warnings = resolve_config(cwd=tmp_path, env={})
    assert config.target.path == "deployment/api"
    assert config.feature.network.incoming.mode == "steal"
    if name.endswith("toml"):
        assert config.feature.fs.mode == "write"
        assert warnings == [
            f"{name}: feature.network.incoming.tls_delivery is not supported yet; ignored"
        ]
    else:
        assert config.target.namespace == "shop" and warnings == []


def test_podtap_json_comes_first(tmp_path: Path) -> None:
    write(tmp_path / "podtap.json", '{"target": "pod/a"}')
    write(tmp_path / ".mirrord/mirrord.json", '{"target": "pod/b"}')
    config, warnings = resolve_config(cwd=tmp_path, env={})
    assert config.target.path == "pod/a"
    assert warnings == [".mirrord/mirrord.json is ignored: podtap.json comes first"]


def test_explicit_file_wins_over_discovery(tmp_path: Path) -> None:
    write(tmp_path / "podtap.json", '{"target": "pod/a"}')
    write(tmp_path / "conf/x.yml", "target: pod/c\n")
    config, warnings = resolve_config(cwd=tmp_path, file=Path("conf/x.yml"), env={})
    assert config.target.path == "pod/c" and warnings == []


def test_file_errors_name_the_file(tmp_path: Path) -> None:
    def issues(name: str, text: str | None) -> list[str]:
        if text is not None:
            write(tmp_path / name, text)
        with pytest.raises(ConfigError) as e:
            resolve_config(cwd=tmp_path, file=Path(name), env={})
        return [str(i) for i in e.value.issues]

    assert issues("missing.json", None)[0].startswith("missing.json: cannot read: ")
    assert "line 1" in issues("bad.json", "{")[0]
    assert "invalid TOML" in issues("bad.toml", "a = ")[0]
    assert "invalid YAML" in issues("bad.yaml", "a: [")[0]
    assert "expected a mapping" in issues("list.yaml", "- 1\n")[0]
    assert "unknown file type" in issues("conf.ini", "")[0]
    assert issues("e.json", '{"target": "nope", "feature": {"fs": "rw"}}') == [
        "e.json: target.path: target 'nope' is not valid: use KIND/NAME[/container/CONTAINER]"
        " (KIND one of deployment, pod, rollout, job, cronjob, statefulset, service,"
        " replicaset), label/KEY=VALUE[,KEY=VALUE...][/container/CONTAINER], or targetless",
        "e.json: feature.fs.mode: Input should be 'local', 'localwithoverrides', 'read' or 'write'",
    ]


def test_empty_files_are_defaults(tmp_path: Path) -> None:
    for name in ("a.json", "a.yaml", "a.toml"):
        write(tmp_path / name, "")
        assert resolve_config(cwd=tmp_path, file=Path(name), env={})[0].target.path is None


def test_env_overrides_file(tmp_path: Path) -> None:
    write(tmp_path / ".mirrord/mirrord.json", json.dumps(MIRRORD_JSON))
    env = {
        "MIRRORD_IMPERSONATED_TARGET": "pod/other",
        "MIRRORD_TARGET_NAMESPACE": "dev",
        "MIRRORD_FILE_MODE": "local",
        "MIRRORD_REMOTE_DNS": "false",
        "MIRRORD_HTTP_HEADER_FILTER": "x-user: bob",
        "MIRRORD_AGENT_TCP_STEAL_TRAFFIC": "false",
        "UNRELATED": "1",
    }
    config, _ = resolve_config(cwd=tmp_path, env=env)
    assert (config.target.path, config.target.namespace) == ("pod/other", "dev")
    assert config.feature.fs.mode == "local"
    assert not config.feature.network.dns.enabled
    assert config.feature.network.incoming.mode == "mirror"
    assert config.feature.network.incoming.http_filter.header_filter == "x-user: bob"
    # untouched keys keep the file's values
    assert config.feature.env.include == ["DB_*", "API_KEY"]


def test_podtap_env_beats_mirrord_env(tmp_path: Path) -> None:
    env = {
        "PODTAP_TARGET": "pod/p",
        "MIRRORD_IMPERSONATED_TARGET": "pod/m",
        "PODTAP_INCOMING_MODE": "OFF",
        "MIRRORD_AGENT_TCP_STEAL_TRAFFIC": "true",
        "PODTAP_REMOTE_DNS": "0",
        "PODTAP_TARGET_NAMESPACE": "ns",
        "PODTAP_FILE_MODE": "write",
    }
    config, _ = resolve_config(cwd=tmp_path, env=env)
    assert config.target.path == "pod/p" and config.target.namespace == "ns"
    assert config.feature.network.incoming.mode == "off"
    assert config.feature.fs.mode == "write" and not config.feature.network.dns.enabled
    config, _ = resolve_config(cwd=tmp_path, env={"MIRRORD_AGENT_TCP_STEAL_TRAFFIC": "true"})
    assert config.feature.network.incoming.mode == "steal"


def test_podtap_operator_is_the_operator_address_not_the_operator_switch(tmp_path: Path) -> None:
    """`PODTAP_OPERATOR=unix:/run/op.sock` tells the CLI where the operator is; the config's
    `operator` switch has its own variable, like mirrord's."""
    config, _ = resolve_config(cwd=tmp_path, env={"PODTAP_OPERATOR": "unix:/run/op.sock"})
    assert config.operator is not False
    config, _ = resolve_config(cwd=tmp_path, env={"PODTAP_OPERATOR_ENABLE": "false"})
    assert config.operator is False


def test_header_filter_override_replaces_other_filters(tmp_path: Path) -> None:
    write(
        tmp_path / "podtap.json",
        '{"feature": {"network": {"incoming": {"http_filter": {"path_filter": "^/a",'
        ' "ports": [80]}}}}}',
    )
    config, _ = resolve_config(cwd=tmp_path, env={"PODTAP_HTTP_HEADER_FILTER": "x: y"})
    hf = config.feature.network.incoming.http_filter
    assert (hf.header_filter, hf.path_filter, hf.ports) == ("x: y", None, [80])


def test_cli_overrides_env_and_file(tmp_path: Path) -> None:
    write(tmp_path / "podtap.yaml", MIRRORD_YAML)
    env = {"PODTAP_TARGET": "pod/env", "PODTAP_INCOMING_MODE": "off", "PODTAP_FILE_MODE": "local"}
    cli = {
        "target": "pod/cli",
        "namespace": None,  # flag not given
        "steal": True,
        "filter": "x-user: me",
        "no_outgoing": True,
        "no_remote_dns": False,
        "fs_mode": "write",
        "feature.network.incoming.ports": [8080],
    }
    config, _ = resolve_config(cwd=tmp_path, env=env, cli=cli)
    assert config.target.path == "pod/cli" and config.target.namespace == "shop"
    inc = config.feature.network.incoming
    assert inc.mode == "steal" and inc.http_filter.header_filter == "x-user: me"
    assert inc.ports == [8080]
    assert config.feature.fs.mode == "write"
    out = config.feature.network.outgoing
    assert not out.tcp and not out.udp
    assert not config.feature.network.dns.enabled  # from the file; --no-remote-dns not given


def test_override_errors_name_their_source(tmp_path: Path) -> None:
    write(tmp_path / "podtap.json", "{}")
    with pytest.raises(ConfigError) as e:
        resolve_config(
            cwd=tmp_path,
            env={"MIRRORD_REMOTE_DNS": "maybe", "PODTAP_TARGET": "pod/a"},
            cli={"filter": "(", "fs_mode": "sideways"},
        )
    assert sorted(str(i) for i in e.value.issues) == [
        "env MIRRORD_REMOTE_DNS: feature.network.dns.enabled: Input should be a valid boolean,"
        " unable to interpret input",
        "flag --filter: feature.network.incoming.http_filter.header_filter: invalid regular"
        " expression '(': missing ), unterminated subpattern at position 0",
        "flag --fs-mode: feature.fs.mode: Input should be 'local', 'localwithoverrides', 'read'"
        " or 'write'",
    ]
    assert str(e.value).startswith("3 errors in the configuration\n  ")


def test_unknown_cli_override_is_a_bug(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="unknown CLI override"):
        resolve_config(cwd=tmp_path, env={}, cli={"stael": True})


def test_on_concurrent_steal_env_twins_and_flag(tmp_path: Path) -> None:
    """mirrord's MIRRORD_OPERATOR_ON_CONCURRENT_STEAL, podtap's twin beating it, the flag
    beating both."""

    def mode(env: dict[str, str], cli: dict[str, object] | None = None) -> str:
        config, _ = resolve_config(cwd=tmp_path, env=env, cli=cli)
        return str(config.feature.network.incoming.on_concurrent_steal.value)

    assert mode({}) == "abort"
    assert mode({"MIRRORD_OPERATOR_ON_CONCURRENT_STEAL": "Override"}) == "override"
    both = {
        "MIRRORD_OPERATOR_ON_CONCURRENT_STEAL": "override",
        "PODTAP_OPERATOR_ON_CONCURRENT_STEAL": "continue",
    }
    assert mode(both) == "continue"
    assert mode(both, {"on_concurrent_steal": "abort"}) == "abort"
