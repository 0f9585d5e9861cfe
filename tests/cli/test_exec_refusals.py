"""`podtap exec` refuses what it cannot do before it connects anywhere (no cluster here)."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

import pytest

from podtap.testing.localcluster import podtap_argv


@pytest.mark.parametrize("target", ["rollout/web", "job/migrate", "cronjob/nightly"])
def test_a_kind_the_cluster_cannot_resolve_is_refused_before_connecting(
    target: str, tmp_path: Path
) -> None:
    env = {**os.environ, "PODTAP_STATE_HOME": str(tmp_path / "state")}
    done = subprocess.run(
        podtap_argv("exec", "-t", target, "--", "true"),
        capture_output=True,
        text=True,
        env=env,
        cwd=tmp_path,
        timeout=60,
    )
    assert done.returncode == 1, done
    kind = target.split("/")[0]
    assert f"cannot resolve {kind} targets yet" in done.stderr, done.stderr
    assert "Traceback" not in done.stderr
    assert "operator" not in done.stderr.lower(), done.stderr  # it never tried to connect
