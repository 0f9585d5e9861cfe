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

from podtap.testing.localcluster import LocalCluster, processes_of


def exec_with(
    cluster: LocalCluster, tmp: Path, fs: Any, script: str, *flags: str
) -> subprocess.CompletedProcess[str]:
    config = tmp / "podtap.json"
    config.write_text(json.dumps({"target": "deployment/shop", "feature": {"fs": fs}}))
    return cluster.podtap(
        "exec", "-f", str(config), *flags, "--", "sh", "-c", script, check=False, timeout=60
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
