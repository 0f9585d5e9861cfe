"""Running the real kubectl and helm against an API server of this process."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

from podtap.backends.local.kubeapi.app import Running


def run(
    bin_: Path,
    api: Running,
    *args: str,
    stdin: str = "",
    ok: bool = True,
    config: Path | None = None,
) -> subprocess.CompletedProcess[str]:
    """`bin_ args...` with the admin kubeconfig (or `config`); asserts success unless `ok=False`."""
    env = {**os.environ, "KUBECONFIG": str(config or api.kubeconfig), "HOME": str(api.workdir)}
    done = subprocess.run(
        [str(bin_), *args], input=stdin, capture_output=True, text=True, env=env, timeout=90
    )
    if ok:
        assert done.returncode == 0, f"{bin_.name} {' '.join(args)}: {done.stderr}"
    return done
