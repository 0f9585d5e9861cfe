"""feature.fs decisions for the exec jail (pure)."""

from __future__ import annotations

import pytest

from podtap.core.config.models import FsConfig, FsMode
from podtap.core.fs_rules import Access, FsRules, literal_path

MOUNTS = ("/etc/hostname", "/etc/shop/config", "/opt/shop")
SA = "/var/run/secrets/kubernetes.io/serviceaccount"


@pytest.mark.parametrize(
    ("regex", "path"),
    [
        ("/app/config", "/app/config"),
        ("^/app/config", "/app/config"),
        ("^/app/config/", "/app/config"),
        ("/srv/data/.*", "/srv/data"),
        ("^/srv/data(/.*)?$", "/srv/data"),
        (r"^/etc/app\.conf$", "/etc/app.conf"),
        ("^/etc/app.conf", "/etc/app.conf"),
        (r"^/my\ dir", "/my dir"),
        ("^/a/./b", "/a/b"),
    ],
)
def test_literal_paths(regex: str, path: str) -> None:
    assert literal_path(regex) == path


@pytest.mark.parametrize(
    "regex",
    [r"\.conf$", "app/config", "^/srv/(a|b)", "^/srv/.*/x", r"^/srv/\d+", "^/a/../b", "^/x*"],
)
def test_regexes_that_name_no_path(regex: str) -> None:
    assert literal_path(regex) is None


def test_default_read_takes_the_pods_own_files() -> None:
    plan = FsRules().plan(MOUNTS)
    assert plan.remote == ("/etc/hostname", "/opt/shop", "/etc/shop/config", SA)
    assert plan.hidden == () and plan.warnings == ()


def test_mode_local_reads_nothing_remote_and_hides_nothing() -> None:
    rules = FsRules(mode=FsMode.LOCAL, read_only=("^/app",), not_found=("^/etc/x",))
    plan = rules.plan(MOUNTS)
    assert plan.remote == () and plan.hidden == ()
    assert rules.access("/etc/hostname") is Access.LOCAL


def test_local_with_overrides_reads_only_the_overrides() -> None:
    plan = FsRules(mode=FsMode.LOCAL_WITH_OVERRIDES, read_only=("^/app/config",)).plan(MOUNTS)
    assert plan.remote == ("/app/config",)


def test_read_only_paths_add_trees_and_nested_ones_fold_into_them() -> None:
    plan = FsRules(read_only=("^/etc/shop", "/srv/data/.*")).plan(MOUNTS)
    assert plan.remote == ("/etc/hostname", "/etc/shop", "/opt/shop", "/srv/data", SA)


def test_local_and_not_found_remove_paths_from_the_remote_set() -> None:
    rules = FsRules(local=("^/opt/",), not_found=("^/etc/shop/config", r"secret\.txt$"))
    plan = rules.plan(MOUNTS)
    assert plan.remote == ("/etc/hostname", SA)
    assert plan.hidden == ("/etc/shop/config",)
    assert plan.warnings == (
        "feature.fs.not_found 'secret\\\\.txt$' is not a path: it hides matching files "
        "inside the remote copies only",
    )
    assert rules.access("/etc/hostname") is Access.REMOTE
    assert rules.access("/opt/shop/x.py") is Access.LOCAL
    assert rules.access("/srv/a/secret.txt") is Access.NOT_FOUND


def test_not_found_wins_over_local_and_read_only() -> None:
    rules = FsRules(read_only=("^/app",), local=("^/app/a",), not_found=("^/app/a/b",))
    assert rules.access("/app/a/b/c") is Access.NOT_FOUND
    assert rules.access("/app/a/c") is Access.LOCAL
    assert rules.access("/app/c") is Access.REMOTE
    assert rules.plan(()).hidden == ()  # inside a remote tree: left out of the copy


def test_the_jails_own_files_and_unlistable_rules_are_explained() -> None:
    rules = FsRules(read_only=("/etc/hosts", r"\.ya?ml$", "^/"), mode=FsMode.WRITE)
    plan = rules.plan(())
    assert "/etc/hosts" not in plan.remote
    assert plan.warnings == (
        "feature.fs.mode write: remote files are read-only in podtap (treated as `read`)",
        "feature.fs.read_only '\\\\.ya?ml$' is not an absolute path or an anchored literal "
        "prefix: podtap cannot list what it matches, ignored",
        "feature.fs.read_only '^/': the whole root, ignored",
    )


def test_read_write_is_read_only_with_one_warning() -> None:
    rules = FsRules.from_config(FsConfig(read_write=["^/data", "^/cache"]))
    plan = rules.plan(())
    assert plan.remote == ("/cache", "/data", "/etc/hostname", SA)
    assert [w for w in plan.warnings if "read_write" in w] == [
        "feature.fs.read_write: remote files are read-only in podtap (entries treated as read_only)"
    ]
