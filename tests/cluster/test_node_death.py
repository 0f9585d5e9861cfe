"""The embedded cluster's node killed by SIGKILL: its pods (the operator and the agents
among them) and the exec sessions end instead of running on against pods that no longer
exist, and `podtap local up` starts again what died, operator included (issue 9)."""

from __future__ import annotations

import json
import os
import signal
import subprocess
from pathlib import Path

from podtap.testing.localcluster import (
    LocalCluster,
    command_has,
    descendants,
    podtap_argv,
    processes_of,
)
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
OPERATOR, AGENT, JAIL = "operator\0serve", "agent\0--container-id", "podtap.client.jail"  # argv
TTL = 6


def _sessions(cluster: LocalCluster) -> list[dict[str, object]]:
    result = cluster.podtap("operator", "status", "-o", "json", check=False)
    sessions: list[dict[str, object]] = (
        json.loads(result.stdout)["sessions"] if result.returncode == 0 else []
    )
    return sessions


def _pid(cluster: LocalCluster, file: str) -> int:
    return int((cluster.state_home / "local" / cluster.name / file).read_text())


def _node_runs(cluster: LocalCluster, pattern: str) -> list[int]:
    """The processes of the cluster's node whose command line has `pattern`."""
    node = _pid(cluster, "node.pid")
    return sorted(p for p in descendants(node) if command_has(p, pattern))


def test_a_killed_node_ends_operator_agents_and_sessions_and_up_starts_it_again(
    make_cluster: type[LocalCluster], tmp_path: Path
) -> None:
    cluster = make_cluster("t-death")
    (tmp_path / "app.yaml").write_text(APP)
    cluster.up(tmp_path / "app.yaml", operator_chart=True, values=[f"sessions.unusedTtl={TTL}"])
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
        operator = _node_runs(cluster, OPERATOR)
        agents = _node_runs(cluster, AGENT)
        assert operator and agents, (operator, agents)
        jails = processes_of(cluster, JAIL)

        os.kill(_pid(cluster, "node.pid"), signal.SIGKILL)

        _, stderr = client.communicate(timeout=TTL + 30)
        assert client.returncode != 0, stderr
        assert "Traceback" not in stderr, stderr
        said = " ".join(stderr.split())
        assert "session ended: StateLost" in said and "cannot reach the Kubernetes API" in said
        print(f"podtap exec when the node died: ...{said[-160:]}")
        left = [*operator, *agents, *jails]
        wait_until(
            lambda: not [p for p in left if os.path.exists(f"/proc/{p}")],
            timeout=30,
            what="operator, agent and jail to end",
        )
        status = cluster.podtap("local", "status", check=False)
        assert status.returncode == 1
        assert "node: dead" in status.stdout, status

        assert "node: dead" in cluster.podtap("local", "up").stdout  # said, and started again
        wait_until(
            lambda: cluster.podtap("local", "status", check=False).returncode == 0,
            timeout=60,
            what="the operator to be ready again",
        )
        assert len(_node_runs(cluster, OPERATOR)) == len(operator)  # one operator pod again
        assert "already running" in cluster.podtap("local", "up").stdout
        assert len(_node_runs(cluster, OPERATOR)) == len(operator)
    finally:
        if client.poll() is None:
            client.kill()
            client.communicate()
