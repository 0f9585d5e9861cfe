"""`feature.fs` in `podtap exec`: which paths the command reads from the target.

Pods of the local cluster share this machine's root filesystem (plus their own volumes),
so a tree under the test's tmp directory is "remote" as the pod sees it; copies are told
apart from this machine's files by being read-only."""

from __future__ import annotations

import json
import socket
import subprocess
from pathlib import Path
from typing import Any

import pytest

from podtap.client.host.fuse_view import fuse_usable
from podtap.testing.localcluster import LocalCluster, podtap_argv, processes_of
from podtap.testing.wait import wait_until


def write_config(tmp: Path, fs: Any) -> Path:
    config = tmp / "podtap.json"
    config.write_text(json.dumps({"target": "deployment/shop", "feature": {"fs": fs}}))
    return config


def exec_with(
    cluster: LocalCluster, tmp: Path, fs: Any, script: str, *flags: str, view: str = "snapshot"
) -> subprocess.CompletedProcess[str]:
    """`view`: snapshot (forced) or the default (FUSE when /dev/fuse is usable)."""
    argv = ["exec", "-f", str(write_config(tmp, fs)), *flags, "--", "sh", "-c", script]
    return subprocess.run(
        podtap_argv(*argv),
        env={**cluster.env, "PODTAP_FS_VIEW": view},
        capture_output=True,
        text=True,
        timeout=60,
    )


def lines_of(result: subprocess.CompletedProcess[str]) -> list[str]:
    assert result.returncode == 0, result.stderr
    return result.stdout.strip().split("\n")


def test_read_only_paths_local_and_not_found_inside_a_remote_tree(
    shop: LocalCluster, tmp_path: Path
) -> None:
    tree = tmp_path / "tree"
    (tree / "sub").mkdir(parents=True)
    for name in ("a.txt", "mine.txt", "secret.txt", "sub/c.txt"):
        (tree / name).write_text(f"{name}\n")
    fs = {
        "read_only": [f"^{tree}", "^/etc/shop/"],
        "local": [f"^{tree}/mine\\.txt$"],
        "not_found": [r"secret\.txt$"],
    }
    result = exec_with(
        shop,
        tmp_path,
        fs,
        f"cd {tree}; cat a.txt sub/c.txt; ls /etc/shop; "
        "test -e secret.txt || echo no-secret; "
        "touch a.txt 2>/dev/null || echo a-read-only; "
        "echo more >> mine.txt && echo mine-writable",
    )
    assert lines_of(result) == [
        "a.txt",
        "sub/c.txt",
        "config",
        "no-secret",
        "a-read-only",
        "mine-writable",
    ]
    assert (tree / "mine.txt").read_text() == "mine.txt\nmore\n"  # this machine's file
    assert (tree / "secret.txt").exists(), "not_found must act in the jail only"
    err = " ".join(result.stderr.split())
    assert "'secret\\\\.txt$' is not a path: it hides matching files inside" in err


def test_not_found_hides_this_machines_paths_and_the_pods_volumes(
    shop: LocalCluster, tmp_path: Path
) -> None:
    hidden = tmp_path / "hidden"
    (hidden / "gone-dir").mkdir(parents=True)
    (hidden / "secret").write_text("s3cr3t")
    (hidden / "keep").write_text("kept")
    fs = {"not_found": [f"^{hidden}/secret$", f"{hidden}/gone-dir/.*", "^/etc/shop/config"]}
    result = exec_with(
        shop,
        tmp_path,
        fs,
        f"cat {hidden}/secret 2>/dev/null || echo secret-absent; "
        f"test -e {hidden}/gone-dir || echo dir-absent; ls {hidden}; echo; "
        "cat /etc/shop/config/greeting 2>/dev/null || echo config-absent; ls /opt/shop",
    )
    out = lines_of(result)
    assert out[:4] == ["secret-absent", "dir-absent", "keep", ""], result.stderr
    assert out[4] == "config-absent"
    assert {"frontend.py", "catalog.py"} <= set(out[5:])
    assert (hidden / "secret").read_text() == "s3cr3t"


def test_mode_local_reads_nothing_from_the_pod(shop: LocalCluster, tmp_path: Path) -> None:
    result = exec_with(
        shop,
        tmp_path,
        "read",
        "cat /etc/hostname; test -e /opt/shop || echo no-pod-code",
        "--fs-mode",
        "local",
    )
    assert lines_of(result) == [socket.gethostname(), "no-pod-code"]


def test_what_a_snapshot_cannot_do_is_said_once_and_the_command_still_runs(
    shop: LocalCluster, tmp_path: Path
) -> None:
    big = tmp_path / "big"
    big.mkdir()
    with (big / "huge.bin").open("wb") as f:
        f.truncate(65 << 20)  # sparse: over the 64 MiB budget without writing it
    fs = {"mode": "write", "read_only": [r"\.ya?ml$", str(big)], "read_write": ["^/data"]}
    result = exec_with(shop, tmp_path, fs, "cat /etc/hostname")
    (frontend,) = shop.pods("shop-")
    assert lines_of(result) == [frontend["name"]]
    err = " ".join(result.stderr.split())
    assert err.count("feature.fs.mode write: remote files are read-only") == 1, err
    assert err.count("feature.fs.read_write: remote files are read-only") == 1, err
    assert "'\\\\.ya?ml$' is not an absolute path" in err
    assert f"exceed the snapshot limit (2000 files, 64 MiB): {big} is not remote" in err
    assert processes_of(shop, "podtap.client.jail") == []


def test_not_found_and_mode_local_with_the_fuse_view(shop: LocalCluster, tmp_path: Path) -> None:
    if not fuse_usable():
        pytest.skip("/dev/fuse is not usable by this user: the snapshot is used")
    hidden = tmp_path / "hidden"
    hidden.mkdir()
    (hidden / "secret").write_text("s3cr3t")
    fs = {"not_found": [f"^{hidden}/secret$", r"greeting$"]}
    result = exec_with(
        shop,
        tmp_path,
        fs,
        f"test -e {hidden}/secret || echo secret-absent; ls /etc/shop/config; echo; "
        "cat /opt/shop/catalog.py | head -c0 && echo code-read",
        view="fuse",
    )
    assert lines_of(result) == ["secret-absent", "", "code-read"]


def test_the_fuse_view_reads_the_pod_as_it_changes(shop: LocalCluster, tmp_path: Path) -> None:
    if not fuse_usable():
        pytest.skip("/dev/fuse is not usable by this user: the snapshot is used")
    tree = tmp_path / "live"
    (tree / "sub").mkdir(parents=True)
    (tree / "a.txt").write_text("v1\n")
    (tree / "sub" / "b.txt").write_text("b\n")
    (tree / "secret.txt").write_text("x\n")
    config = write_config(tmp_path, {"read_only": [str(tree)], "not_found": [r"secret\.txt$"]})
    script = (
        f"grep -c 'fuse.podtap' /proc/self/mountinfo; cat /etc/shop/config/greeting; echo; "
        f"cd {tree}; cat a.txt; ls -R; test -e secret.txt || echo no-secret; "
        "touch a.txt 2>/dev/null || echo read-only; echo waiting; read line; cat a.txt"
    )
    out = tmp_path / "out"
    with out.open("w") as stdout:
        proc = subprocess.Popen(
            podtap_argv("exec", "-f", str(config), "--", "sh", "-c", script),
            env=shop.env,
            stdin=subprocess.PIPE,
            stdout=stdout,
            stderr=subprocess.PIPE,
            text=True,
        )
    try:
        wait_until(lambda: "waiting" in out.read_text(), timeout=30, what="the first reads")
        (tree / "a.txt").write_text("v2\n")  # changed in the pod (same root here)
        _, err = proc.communicate("go\n", timeout=30)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    lines = out.read_text().strip().split("\n")
    assert proc.returncode == 0, err
    assert int(lines[0]) >= 4  # hostname, volumes, the tree: FUSE views
    assert lines[1:4] == ["Welcome to the podtap shop", "v1", ".:"], err
    assert lines[4:] == ["a.txt", "sub", "", "./sub:", "b.txt", "no-secret", "read-only",
                         "waiting", "v2"]  # fmt: skip
    assert processes_of(shop, "podtap.client.jail") == []
