"""`podtap doctor` on this machine, and with the tools hidden from it."""

from __future__ import annotations

import json
import os
import subprocess

from podtap.testing.localcluster import podtap_argv


def doctor(env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        podtap_argv("doctor", "-o", "json"),
        capture_output=True,
        text=True,
        env=env or dict(os.environ),
        timeout=60,
    )


def test_doctor_reports_every_check_as_json() -> None:
    result = doctor()
    checks = {c["name"]: c for c in json.loads(result.stdout)}
    assert checks["nft command"]["ok"] and checks["libnftables"]["ok"]
    assert result.returncode == (0 if all(c["ok"] for c in checks.values() if c["required"]) else 1)


def test_doctor_names_the_fix_for_missing_tools() -> None:
    result = doctor({**os.environ, "PATH": "/nonexistent"})
    assert result.returncode == 1
    checks = {c["name"]: c for c in json.loads(result.stdout)}
    assert not checks["nft command"]["ok"]
    assert checks["nft command"]["fix"] == "apt-get install nftables"
    assert "Traceback" not in result.stderr
