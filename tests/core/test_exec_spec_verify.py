"""Each http_filter shape through `podtap verify-config`: accepted with the exact exec plan
(`exec_spec.plan_of`), or refused naming its key."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
import typer
from typer.testing import CliRunner

from podtap.cli.config import verify_config
from podtap.core.config import resolve_config
from podtap.core.exec_spec import plan_of

app = typer.Typer()
app.command("verify-config")(verify_config)
app.command("other")(lambda: None)  # keep verify-config a named sub-command

HF = "feature.network.incoming.http_filter"
ONLY = "only requests matching"


@pytest.fixture
def runner(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> CliRunner:
    monkeypatch.chdir(tmp_path)
    for var in ("PODTAP_HTTP_HEADER_FILTER", "MIRRORD_HTTP_HEADER_FILTER", "PODTAP_KEY"):
        monkeypatch.delenv(var, raising=False)
    return CliRunner()


def write(tmp_path: Path, http_filter: dict[str, Any], mode: str = "steal") -> Path:
    incoming = {"mode": mode, "http_filter": http_filter}
    doc = {"target": "deployment/shop", "feature": {"network": {"incoming": incoming}}}
    path = tmp_path / "mirrord.json"
    path.write_text(json.dumps(doc))
    return path


SHAPES: list[tuple[dict[str, Any], dict[str, Any] | None, list[str]]] = [
    ({"header_filter": "^x-user: me$"}, {"header": "^x-user: me$"}, [f"every port: {ONLY}"]),
    ({"path_filter": "^/api/"}, {"path": "^/api/"}, [f"every port: {ONLY} path=~'^/api/'"]),
    ({"method_filter": "post"}, {"method": "POST"}, [f"every port: {ONLY} method=POST"]),
    (
        {"all_of": [{"header": "^x-user: me$"}, {"path": "^/mine"}, {"method": "GET"}]},
        {"all_of": [{"header": "^x-user: me$"}, {"path": "^/mine"}, {"method": "GET"}]},
        [f"every port: {ONLY} all_of(header=~'^x-user: me$', path=~'^/mine', method=GET)"],
    ),
    (
        {"any_of": [{"header": "a"}, {"path": "^/b"}]},
        {"any_of": [{"header": "a"}, {"path": "^/b"}]},
        [f"every port: {ONLY} any_of(header=~'a', path=~'^/b')"],
    ),
    (
        {"header_filter": "x", "ports": [8080]},
        {"header": "x"},
        [f"port 8080: {ONLY} header=~'x'", "other ports: the whole port"],
    ),
    ({}, None, []),
]


@pytest.mark.parametrize(("http_filter", "wire", "lines"), SHAPES)
def test_each_filter_shape_is_valid_with_its_exact_plan(
    runner: CliRunner,
    tmp_path: Path,
    http_filter: dict[str, Any],
    wire: dict[str, Any] | None,
    lines: list[str],
) -> None:
    path = write(tmp_path, http_filter)
    r = runner.invoke(app, ["verify-config", str(path), "-o", "json"])
    assert r.exit_code == 0, r.output
    doc = json.loads(r.stdout)
    config, _ = resolve_config(cwd=tmp_path, file=path, env={})
    plan = plan_of(config)
    assert plan["incoming"]["http_filter"] == wire
    text = "\n".join(plan["incoming"]["text"])
    assert all(line in text for line in lines), text
    if wire is None:
        assert ONLY not in text  # no filter: said as a whole-port steal, nothing else
    if "plan" in doc:  # once verify-config shows it (podtap/cli/config.py)
        assert doc["plan"] == plan


@pytest.mark.parametrize(
    ("http_filter", "key"),
    [
        ({"header_filter": ""}, f"{HF}.header_filter"),
        ({"path_filter": ""}, f"{HF}.path_filter"),
        ({"all_of": [{"header": "a"}, {"method": ""}]}, f"{HF}.all_of[1].method"),
        ({"any_of": []}, "any_of"),
        ({"body_filter": {"body": "json", "query": "$.a", "matches": "b"}}, "body_filter"),
        ({"header_filter_jq": ". == 1"}, "header_filter_jq"),
    ],
)
def test_a_filter_that_cannot_be_applied_is_refused_naming_its_key(
    runner: CliRunner, tmp_path: Path, http_filter: dict[str, Any], key: str
) -> None:
    path = write(tmp_path, http_filter)
    r = runner.invoke(app, ["verify-config", str(path)])
    assert r.exit_code == 1 and key in r.output and "Traceback" not in r.output, r.output


def test_verify_config_shows_the_exec_plan(runner: CliRunner, tmp_path: Path) -> None:
    path = write(tmp_path, {"all_of": [{"header": "^x-user: me$"}, {"path": "^/mine"}]})
    r = runner.invoke(app, ["verify-config", str(path), "-o", "json"])
    assert "plan" in json.loads(r.stdout)
    r = runner.invoke(app, ["verify-config", str(path)])
    assert f"every port: {ONLY} all_of(" in r.output
