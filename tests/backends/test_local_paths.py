"""Cluster names and state directories of the embedded local cluster."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from podtap.backends.local.paths import ClusterPaths, cluster_name, state_root

NAME_ENV = "PODTAP_LOCAL_NAME"


@pytest.fixture(autouse=True)
def _clean_env(monkeypatch: pytest.MonkeyPatch) -> None:
    for var in (NAME_ENV, "PODTAP_STATE_HOME", "XDG_RUNTIME_DIR"):
        monkeypatch.delenv(var, raising=False)


@pytest.mark.parametrize("name", ["a", "0", "dev", "team-1", "a" * 32, "1-2"])
def test_valid_cluster_names(name: str) -> None:
    assert cluster_name(name) == name


@pytest.mark.parametrize(
    "name", ["Dev", "team_1", "-dev", "dev-", "a" * 33, "dev.local", "a b", "dév", "../x"]
)
def test_invalid_cluster_names(name: str) -> None:
    with pytest.raises(ValueError) as info:
        cluster_name(name)
    assert str(info.value) == (
        f"cluster name {name!r} is not valid: use 1-32 lower-case letters, digits and '-'"
    )


def test_cluster_name_with_trailing_newline_is_invalid() -> None:
    with pytest.raises(ValueError):
        cluster_name("dev\n")


@pytest.mark.parametrize(
    ("given", "env", "expected"),
    [
        (None, None, "default"),
        ("", None, "default"),
        (None, "", "default"),
        (None, "from-env", "from-env"),
        ("", "from-env", "from-env"),
        ("given", "from-env", "given"),
    ],
)
def test_cluster_name_defaults(
    monkeypatch: pytest.MonkeyPatch, given: str | None, env: str | None, expected: str
) -> None:
    if env is not None:
        monkeypatch.setenv(NAME_ENV, env)
    assert cluster_name(given) == expected


def test_cluster_name_from_env_is_checked(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(NAME_ENV, "Bad_Name")
    with pytest.raises(ValueError, match="cluster name 'Bad_Name' is not valid"):
        cluster_name(None)


@pytest.mark.parametrize(
    ("state_home", "runtime_dir", "expected"),
    [
        ("/srv/state", "/run/user/1000", "/srv/state"),
        ("/srv/state", None, "/srv/state"),
        ("", "/run/user/1000", "/run/user/1000/podtap"),
        (None, "/run/user/1000", "/run/user/1000/podtap"),
        (None, None, f"/tmp/podtap-{os.getuid()}"),
        ("", "", f"/tmp/podtap-{os.getuid()}"),
    ],
)
def test_state_root_precedence(
    monkeypatch: pytest.MonkeyPatch,
    state_home: str | None,
    runtime_dir: str | None,
    expected: str,
) -> None:
    if state_home is not None:
        monkeypatch.setenv("PODTAP_STATE_HOME", state_home)
    if runtime_dir is not None:
        monkeypatch.setenv("XDG_RUNTIME_DIR", runtime_dir)
    assert state_root() == Path(expected)


def test_cluster_paths(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PODTAP_STATE_HOME", "/srv/state")
    paths = ClusterPaths.for_name("dev")
    root = Path("/srv/state/local/dev")
    assert (paths.root, paths.name) == (root, "dev")
    assert paths.api_socket == root / "api.sock"
    assert paths.objects_file == root / "objects.json"
    assert paths.pod_dir("team", "web-0") == root / "pods" / "team_web-0"
