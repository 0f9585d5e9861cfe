"""The embedded cluster's node killed by SIGKILL: the operator, its agents and the exec
sessions end (saying why) instead of running on against pods that no longer exist, and
`podtap local up` starts again what died — with never a second operator (issue 9)."""

from __future__ import annotations

import json
import os
import signal
import subprocess
from pathlib import Path

from podtap.testing.localcluster import LocalCluster, podtap_argv, processes_of
from podtap.testing.wait import wait_until

APP = """
apiVersion: apps/v1
kind: Deployment
metadata: {name: app}
spec:
  replicas: 1
  selector: {matchLabels: {app: app}}
  template:
    metadata: {labels: {app: app}}
    spec:
      containers: [{name: app, command: ["sleep", "infinity"]}]
"""
OPERATOR, AGENT, JAIL = "operator\0serve", "agent\0--pid", "podtap.client.jail"  # argv words


def _sessions(cluster: LocalCluster) -> list[dict[str, object]]:
    result = cluster.podtap("operator", "status", "-o", "json", check=False)
    sessions: list[dict[str, object]] = (
        json.loads(result.stdout)["sessions"] if result.returncode == 0 else []
    )
    return sessions


def _pid(cluster: LocalCluster, file: str) -> int:
    return int((cluster.state_home / "local" / cluster.name / file).read_text())


def test_a_killed_node_ends_operator_agents_and_sessions_and_up_starts_it_again(
    make_cluster: type[LocalCluster], tmp_path: Path
) -> None:
    cluster = make_cluster("t-death")
    (tmp_path / "app.yaml").write_text(APP)
    cluster.up(tmp_path / "app.yaml")
    client = subprocess.Popen(
        podtap_argv("exec", "-t", "deployment/app", "--", "sleep", "3600"),
        env=cluster.env,
        stdin=subprocess.DEVNULL,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        wait_until(
            lambda: (
                processes_of(cluster, JAIL) and [s for s in _sessions(cluster) if s["connected"]]
            ),
            timeout=60,
            what="the exec session to connect and its jail to start",
        )
        assert processes_of(cluster, AGENT)

        os.kill(_pid(cluster, "node.pid"), signal.SIGKILL)

        _, stderr = client.communicate(timeout=30)
        assert "node" in stderr and "stopped" in stderr and "podtap local up" in stderr, stderr
        assert "Traceback" not in stderr
        wait_until(
            lambda: not any(processes_of(cluster, p) for p in (OPERATOR, AGENT, JAIL)),
            timeout=30,
            what="operator, agent and jail to end",
        )
        status = cluster.podtap("local", "status", check=False)
        assert status.returncode == 1
        assert "node: dead" in status.stdout and "operator: dead" in status.stdout, status

        assert "node: dead" in cluster.podtap("local", "up").stdout  # said, and started again
        assert len(processes_of(cluster, OPERATOR)) == 1
        assert cluster.podtap("local", "status").stdout.count(": running") == 2

        operator = _pid(cluster, "operator.pid")
        os.kill(operator, signal.SIGKILL)
        wait_until(lambda: operator not in processes_of(cluster, OPERATOR), timeout=10, what="")
        assert "operator: dead" in cluster.podtap("local", "up").stdout
        assert len(processes_of(cluster, OPERATOR)) == 1
        assert cluster.podtap("local", "up").stdout.count("already running") == 1
        assert len(processes_of(cluster, OPERATOR)) == 1
    finally:
        if client.poll() is None:
            client.kill()
            client.communicate()
