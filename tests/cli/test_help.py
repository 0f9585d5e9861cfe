"""Every command teaches with --help (and never crashes doing so)."""

from __future__ import annotations

import subprocess
from typing import Any

import pytest
import typer

from podtap.cli.main import app
from podtap.testing.localcluster import podtap_argv


def _commands(command: Any, prefix: str = "") -> list[str]:
    """Every command and group of the CLI, from the app itself (so none can be missed);
    typer's own click, so groups are known by their `commands`."""
    found = [prefix.strip()]
    for name, sub in sorted((getattr(command, "commands", None) or {}).items()):
        if not sub.hidden:
            found += _commands(sub, f"{prefix} {name}")
    return found


COMMANDS = _commands(typer.main.get_command(app))


def test_the_list_holds_the_commands_users_know() -> None:
    for known in ("exec", "local up", "operator status", "policy explain", "operator serve"):
        assert known in COMMANDS


@pytest.mark.parametrize("command", COMMANDS)
def test_help(command: str) -> None:
    result = subprocess.run(
        podtap_argv(*command.split(), "--help"), capture_output=True, text=True, timeout=30
    )
    assert result.returncode == 0, result.stderr
    assert "Usage: podtap" in result.stdout and "Traceback" not in result.stderr
