"""How the pod's environment is merged into the local one (mirrord's feature.env)."""

from __future__ import annotations

from pathlib import Path

import pytest

from podtap.client.host.execute import ExecFailed, env_file_values, merged_env
from podtap.core.exec_spec import EnvSpec

LOCAL = {"PATH": "/local/bin", "HOME": "/home/me", "EDITOR": "vi", "DB_URL": "local"}
REMOTE = {"PATH": "/pod/bin", "DB_URL": "postgres://db", "API_KEY": "k", "LOG_LEVEL": "info"}


def test_remote_wins_but_local_paths_stay() -> None:
    env = merged_env(LOCAL, REMOTE)
    assert env["DB_URL"] == "postgres://db" and env["API_KEY"] == "k"
    assert env["PATH"] == "/local/bin" and env["EDITOR"] == "vi"


def test_include_exclude_override_unset_and_env_file() -> None:
    rules = EnvSpec(
        include=("DB_*", "API_*", "LOG_*"),
        exclude=("API_*",),
        override=(("LOG_LEVEL", "debug"),),
        unset=("EDITOR",),
    )
    env = merged_env(LOCAL, REMOTE, rules, env_file={"FROM_FILE": "1", "DB_URL": "file"})
    assert "API_KEY" not in env and "EDITOR" not in env
    assert env["LOG_LEVEL"] == "debug" and env["FROM_FILE"] == "1"
    assert env["DB_URL"] == "file"  # env_file over remote, override over both


def test_disabled_takes_nothing_remote() -> None:
    assert merged_env(LOCAL, REMOTE, EnvSpec(enabled=False)) == LOCAL


def test_env_file_is_read_when_the_run_starts(tmp_path: Path) -> None:
    path = tmp_path / ".env"
    path.write_text("# comment\nexport A=1\nB='two words'\n\nnot a line\n")
    assert env_file_values(EnvSpec(env_file=str(path))) == {"A": "1", "B": "two words"}
    assert env_file_values(EnvSpec()) == {}
    with pytest.raises(ExecFailed, match=r"env_file .*missing: No such file"):
        env_file_values(EnvSpec(env_file=str(tmp_path / "missing")))
