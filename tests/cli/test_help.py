"""Every command teaches with --help (and never crashes doing so)."""

from __future__ import annotations

import subprocess

import pytest

from podtap.testing.localcluster import podtap_argv

COMMANDS = [
    "",
    "exec",
    "ls",
    "port-forward",
    "doctor",
    "verify-config",
    "local",
    "local up",
    "local apply",
    "local delete",
    "local get",
    "local logs",
    "local port-forward",
    "local run",
    "local down",
    "operator",
    "operator serve",
    "operator status",
    "operator session",
    "operator session kill",
    "operator kill-all",
    "operator prune",
]


@pytest.mark.parametrize("command", COMMANDS)
def test_help(command: str) -> None:
    result = subprocess.run(
        podtap_argv(*command.split(), "--help"), capture_output=True, text=True, timeout=30
    )
    assert result.returncode == 0, result.stderr
    assert "Usage: podtap" in result.stdout and "Traceback" not in result.stderr
