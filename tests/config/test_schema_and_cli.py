"""The committed JSON schema is up to date; ``podtap verify-config`` output and exit codes."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import typer
from typer.testing import CliRunner

from podtap.cli.config import verify_config
from podtap.core.config import render_schema

SCHEMA = Path(__file__).resolve().parents[2] / "schema" / "podtap.schema.json"


def test_schema_file_is_up_to_date() -> None:
    assert SCHEMA.read_text() == render_schema(), (
        "schema/podtap.schema.json is stale: regenerate it with "
        "python -c \"from podtap.core.config import render_schema as r; print(r(), end='')\""
        " > schema/podtap.schema.json"
    )


def test_schema_accepts_shorthands() -> None:
    schema = json.loads(render_schema())
    env = schema["$defs"]["FeatureConfig"]["properties"]["env"]
    assert {"type": "boolean"} in env["anyOf"]
    assert "$schema" in schema["properties"]


app = typer.Typer()
app.command("verify-config")(verify_config)
app.command("other")(lambda: None)  # keep verify-config a named sub-command


@pytest.fixture
def runner(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> CliRunner:
    monkeypatch.chdir(tmp_path)
    for var in ("PODTAP_TARGET", "MIRRORD_IMPERSONATED_TARGET", "PODTAP_FILE_MODE"):
        monkeypatch.delenv(var, raising=False)
    return CliRunner()


def test_verify_valid_file(runner: CliRunner, tmp_path: Path) -> None:
    (tmp_path / "m.json").write_text('{"target": "pod/a", "agent": {}, "feature": {"fs": "write"}}')
    r = runner.invoke(app, ["verify-config", "m.json"])
    assert r.exit_code == 0, r.output
    assert '"path": "pod/a"' in r.output and "agent is not supported yet" in r.output
    r = runner.invoke(app, ["verify-config", "m.json", "-o", "json"])
    assert r.exit_code == 0
    doc = json.loads(r.stdout)
    assert doc["valid"] and doc["config"]["feature"]["fs"]["mode"] == "write"
    assert doc["warnings"] == ["m.json: agent is not supported yet; ignored"]


def test_verify_invalid_file(runner: CliRunner, tmp_path: Path) -> None:
    (tmp_path / "m.yaml").write_text("target: x\nfeature: {network: {incoming: bogus}}\n")
    r = runner.invoke(app, ["verify-config", "m.yaml"])
    assert r.exit_code == 1
    assert r.exception is None or isinstance(r.exception, SystemExit)
    assert "2 errors" in r.output and "Traceback" not in r.output
    assert "m.yaml: target.path" in r.output and "feature.network.incoming.mode" in r.output
    r = runner.invoke(app, ["verify-config", "m.yaml", "-o", "json"])
    assert r.exit_code == 1
    doc = json.loads(r.stdout)
    assert not doc["valid"]
    assert [e["path"] for e in doc["errors"]] == ["target.path", "feature.network.incoming.mode"]


def test_verify_missing_file(runner: CliRunner) -> None:
    r = runner.invoke(app, ["verify-config", "nope.toml"])
    assert r.exit_code == 1 and "cannot read" in r.output and "Traceback" not in r.output
