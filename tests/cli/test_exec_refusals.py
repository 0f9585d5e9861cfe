"""`podtap exec` leaves every target kind to the operator: with no cluster here, its one
error is that there is no operator to use, said before anything connects."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

import pytest

from podtap.testing.localcluster import podtap_argv


@pytest.mark.parametrize("target", ["rollout/web", "job/migrate", "cronjob/nightly"])
def test_every_kind_is_left_to_the_operator_to_resolve(target: str, tmp_path: Path) -> None:
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
    # not refused for its kind: refused only because no operator runs here
    assert "error: no operator to use: " in done.stderr, done.stderr
    assert "cannot resolve" not in done.stderr and "Traceback" not in done.stderr
