"""Throw-away network namespaces for tests: a "pod" and a "client" joined by a veth pair."""

from __future__ import annotations

import secrets
import subprocess
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass


def sh(*argv: str, check: bool = True) -> subprocess.CompletedProcess[str]:
    return subprocess.run(argv, capture_output=True, text=True, check=check)


@dataclass(frozen=True)
class Pair:
    pod: str  # netns names
    client: str
    pod_ip: str = "10.77.0.2"
    client_ip: str = "10.77.0.1"

    def exec_argv(self, ns: str, *argv: str) -> list[str]:
        return ["ip", "netns", "exec", ns, *argv]


@contextmanager
def netns_pair() -> Iterator[Pair]:
    """Two namespaces with lo up and a veth between them; always removed afterwards."""
    tag = secrets.token_hex(3)
    pair = Pair(pod=f"ptpod-{tag}", client=f"ptcli-{tag}")
    try:
        for ns in (pair.pod, pair.client):
            sh("ip", "netns", "add", ns)
            sh("ip", "-n", ns, "link", "set", "lo", "up")
        sh(
            "ip",
            "link",
            "add",
            f"ptv{tag}",
            "netns",
            pair.client,
            "type",
            "veth",
            "peer",
            "name",
            "eth0",
            "netns",
            pair.pod,
        )
        sh("ip", "-n", pair.client, "addr", "add", f"{pair.client_ip}/24", "dev", f"ptv{tag}")
        sh("ip", "-n", pair.client, "link", "set", f"ptv{tag}", "up")
        sh("ip", "-n", pair.pod, "addr", "add", f"{pair.pod_ip}/24", "dev", "eth0")
        sh("ip", "-n", pair.pod, "link", "set", "eth0", "up")
        yield pair
    finally:
        for ns in (pair.pod, pair.client):
            pids = sh("ip", "netns", "pids", ns, check=False).stdout.split()
            for pid in pids:
                sh("kill", "-9", pid, check=False)
            sh("ip", "netns", "del", ns, check=False)


def wait_http(pair: Pair, url: str, *, retries: int = 50) -> None:
    """Until `url` answers 2xx from the client namespace (curl retrying refused connects)."""
    sh(
        *pair.exec_argv(
            pair.client,
            "curl",
            "-sf",
            "--retry",
            str(retries),
            "--retry-connrefused",
            "--retry-delay",
            "0",
            url,
        )
    )
