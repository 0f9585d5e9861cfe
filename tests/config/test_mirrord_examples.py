"""Real mirrord config files (mirrord's docs and tests, tests/config/mirrord_examples/) through
``podtap verify-config``: each one works, or says why (issue 10)."""

from __future__ import annotations

import json
import shutil
from pathlib import Path
from typing import Any

import pytest
import typer
from typer.testing import CliRunner

from podtap.cli.config import verify_config

EXAMPLES = Path(__file__).parent / "mirrord_examples"

app = typer.Typer()
app.command("verify-config")(verify_config)
app.command("other")(lambda: None)  # keep verify-config a named sub-command

_VARS = (
    "PODTAP_TARGET",
    "MIRRORD_IMPERSONATED_TARGET",
    "PODTAP_FILE_MODE",
    "PODTAP_KEY",
    "MIRRORD_KEY",
    "TARGET",
    "MIRRORD_BRANCH_NAME",
)


@pytest.fixture
def runner(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> CliRunner:
    monkeypatch.chdir(tmp_path)  # no .git above: {{ git_branch }} is undefined
    for var in _VARS:
        monkeypatch.delenv(var, raising=False)
    return CliRunner()


def verify(runner: CliRunner, name: str, tmp_path: Path) -> tuple[int, dict[str, Any]]:
    shutil.copy(EXAMPLES / name, tmp_path / name)
    r = runner.invoke(app, ["verify-config", name, "-o", "json"])
    assert "Traceback" not in r.output
    return r.exit_code, json.loads(r.stdout)


def at(doc: dict[str, Any], path: str) -> Any:
    for part in path.split("."):
        doc = doc[part]
    return doc


# name -> {dotted path in the resolved config: expected value}, and the unsupported keys
VALID: dict[str, tuple[dict[str, Any], list[str]]] = {
    "bash_script.json": ({"feature.fs.mode": "read", "feature.fs.local": ["/var/db/"]}, []),
    "cor_1401_seqpacket.toml": (
        {"feature.fs.mode": "local"},
        ["feature.network.outgoing.unix_streams"],
    ),
    "default_ide.json": (
        {"feature.network.incoming.mode": "mirror", "feature.network.outgoing.tcp": True},
        [],
    ),
    "fs.json": (
        {"feature.fs.read_write": ["^/mkdir_rmdir_test_dir$", "^/mkdirat_rmdir_test_dir$"]},
        [],
    ),
    "http_filter_header.json": (
        {"feature.network.incoming.http_filter.header_filter": "x-filter: yes"},
        [],
    ),
    "http_filter_path.json": ({"feature.network.incoming.http_filter.path_filter": "api/v1"}, []),
    "ignore_ports.json": ({"feature.network.incoming.ignore_ports": [21232]}, []),
    "issue1776.json": ({"feature.fs.mode": "local", "feature.network.outgoing.udp": False}, []),
    "outgoing_filter.json": (
        {
            "feature.network.outgoing.filter.remote": [
                "tcp://1.1.1.0/24:1111",
                "2.2.2.2:2222",
                ":3333",
            ]
        },
        [],
    ),
    "outgoing_filter_local_not_existing_host.json": (
        {"feature.network.outgoing.filter.local": ["i-do-not-exist-at-all"]},
        [],
    ),
    "port_mapping.json": ({"feature.network.incoming.port_mapping": [[9999, 1234]]}, []),
    "port_mapping_shared_sockets.json": (
        {"feature.network.incoming.port_mapping": [[9999, 1234]]},
        ["experimental"],
    ),
    "unix_streams.json": ({}, ["feature.network.outgoing.unix_streams"]),
    "sqs_printer.json": (
        {"target.path": "deployment/sqs-printer", "operator": True},
        [],
    ),
    "docs_basic.json": ({"target.path": "pod/bear-pod", "feature.network.dns.enabled": True}, []),
    "docs_basic_templating.json": ({"target.path": "pod/fallback"}, []),
    "docs_key_git_branch.json": (
        {
            "key": "shared",
            "feature.network.incoming.http_filter.header_filter": (
                "^baggage: .*mirrord-session=shared.*$"
            ),
        },
        [],
    ),
    "docs_target_object_full.json": (
        {
            "target.path": "pod/bear-pod/container/bear-pod-container",
            "target.namespace": "bear-pod-namespace",
        },
        [],
    ),
    "docs_network.json": (
        {
            "feature.network.incoming.mode": "steal",
            "feature.network.incoming.ignore_ports": [9999, 10000],
            "feature.network.dns.filter.local": ["1.1.1.0/24:1337", "1.1.5.0/24", "google.com"],
        },
        ["feature.network.outgoing.unix_streams"],
    ),
    "docs_http_all_of.json": (
        {
            "feature.network.incoming.http_filter.all_of": [
                {"header": "^baggage: .*mirrord-session=K1.*$", "path": None, "method": None},
                {"header": None, "path": "^/api/my-endpoint$", "method": None},
                {"header": None, "path": None, "method": "POST"},
            ]
        },
        [],
    ),
    "docs_http_any_of.json": ({}, []),
    "docs_split_queues_map.json": ({}, []),
    "docs_split_queues_list.json": ({}, []),
    "docs_copy_target_advanced.json": (
        {"feature.copy_target.enabled": True, "feature.copy_target.scale_down": True},
        [
            "feature.copy_target.exclude_containers",
            "feature.copy_target.exclude_init_containers",
            "feature.copy_target",
        ],
    ),
    "lib_test_key_network_false.json": (
        {
            "feature.network.incoming.mode": "off",
            "feature.network.outgoing.tcp": False,
            "feature.network.outgoing.udp": False,
            "feature.network.dns.enabled": False,
        },
        [],
    ),
}

# name -> (key path of the error, words of its message)
REFUSED: dict[str, tuple[str, str]] = {
    "docs_targetless_namespace.json": ("target.path", "targetless sessions are not supported yet"),
    "docs_http_probe_lookahead.json": (
        "feature.network.incoming.http_filter.header_filter",
        "lookahead (?!...) is not supported",
    ),
}


def test_every_example_is_covered() -> None:
    files = {p.name for p in EXAMPLES.iterdir() if p.suffix in (".json", ".toml")}
    assert files == set(VALID) | set(REFUSED)


@pytest.mark.parametrize("name", sorted(VALID))
def test_mirrord_example_verifies(
    runner: CliRunner, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, name: str
) -> None:
    if name.startswith("docs_http_"):
        monkeypatch.setenv("MIRRORD_KEY", "K1")
    code, doc = verify(runner, name, tmp_path)
    assert code == 0, doc
    expected, unsupported = VALID[name]
    for path, value in expected.items():
        assert at(doc["config"], path) == value, path
    assert doc["unsupported"] == unsupported
    assert len(doc["warnings"]) >= len(unsupported)
    for key in unsupported:  # each by name, once
        assert sum(f" {key} is not supported yet" in w for w in doc["warnings"]) == 1


@pytest.mark.parametrize("name", sorted(REFUSED))
def test_mirrord_example_refused_with_the_reason(
    runner: CliRunner, tmp_path: Path, name: str
) -> None:
    code, doc = verify(runner, name, tmp_path)
    assert code == 1 and not doc["valid"]
    path, words = REFUSED[name]
    (error,) = doc["errors"]
    assert error["path"] == path and words in error["message"]
    assert error["source"] == name and "\n" not in error["message"]
