"""Env exclusion (mirrord's wildcards) and file rules (regexes; notFound > local > readOnly)."""

from __future__ import annotations

import pytest

from podtap.core.policy.access import (
    FileRule,
    env_excluded,
    file_open_refusal,
    file_rule,
    filter_env,
)
from tests.core.policy.helpers import policy

ENV = {"DATABASE_URL": "pg://", "DATABASE": "x", "API_SECRET": "s", "HOME": "/root", "db_url": "y"}


def test_excluded_env_names_are_removed_by_wildcard_whole_name_case_sensitive() -> None:
    p = policy(env={"exclude": ["DATABASE_*", "*_SECRET"]})
    assert filter_env([p], ENV) == {"DATABASE": "x", "HOME": "/root", "db_url": "y"}
    assert env_excluded([p], ["DATABASE_URL"]) == {"DATABASE_URL": "policy shop/p"}


def test_excludes_of_several_policies_add_up() -> None:
    a, b = policy("a", env={"exclude": ["HOME"]}), policy("b", None, env={"exclude": ["db_*"]})
    assert env_excluded([a, b], ENV) == {"HOME": "policy shop/a", "db_url": "cluster policy b"}


FS = policy(
    fs={
        "notFound": ["^/var/run/secrets/"],
        "local": ["\\.env$"],
        "readOnly": ["^/var/lib/", "/var/run"],
    }
)


@pytest.mark.parametrize(
    ("path", "rule"),
    [
        ("/var/run/secrets/token", FileRule.NOT_FOUND),  # readOnly matches too: notFound wins
        ("/var/run/other", FileRule.READ_ONLY),  # searched, not anchored
        ("/app/.env", FileRule.LOCAL),
        ("/var/lib/db", FileRule.READ_ONLY),
        ("/etc/hosts", FileRule.ALLOWED),
    ],
)
def test_file_rules(path: str, rule: FileRule) -> None:
    assert file_rule([FS], path).rule is rule


def test_the_strongest_rule_of_several_policies_wins() -> None:
    ro, gone = (
        policy("ro", fs={"readOnly": ["^/data"]}),
        policy("gone", fs={"notFound": ["^/data/k"]}),
    )
    verdict = file_rule([ro, gone], "/data/key")
    assert (verdict.rule, verdict.policy) == (FileRule.NOT_FOUND, "policy shop/gone")


def test_file_refusals_name_the_policy() -> None:
    hidden = file_rule([FS], "/var/run/secrets/token")
    assert file_open_refusal(hidden, path="/var/run/secrets/token", write=False) == (
        "policy shop/p hides /var/run/secrets/token: not found"
    )
    ro = file_rule([FS], "/var/lib/db")
    assert file_open_refusal(ro, path="/var/lib/db", write=False) is None
    assert file_open_refusal(ro, path="/var/lib/db", write=True) == (
        "policy shop/p makes /var/lib/db read-only: not opened for writing"
    )
    local = file_rule([FS], "/app/.env")
    assert file_open_refusal(local, path="/app/.env", write=True) == (
        "policy shop/p keeps /app/.env local: opened on this machine"
    )
    assert file_open_refusal(file_rule([FS], "/etc/hosts"), path="/etc/hosts", write=True) is None


@pytest.mark.parametrize(
    "path", ["/proc/1/environ", "/proc/self/environ", "/proc/42/task/43/environ"]
)
def test_excluding_env_names_hides_the_environments_procfs_shows(path: str) -> None:
    excluding = policy("no-keys", env={"exclude": ["*_KEY"]})
    verdict = file_rule([FS, excluding], path)
    assert (verdict.rule, verdict.policy) == (FileRule.NOT_FOUND, "policy shop/no-keys")
    assert file_rule([FS], path).rule is FileRule.ALLOWED  # no env rule: nothing to hide
    assert file_rule([excluding], "/proc/1/status").rule is FileRule.ALLOWED
