"""Driving a real embedded cluster from tests, through the `podtap` command."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import tempfile
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any


def podtap_argv(*args: str) -> list[str]:
    return [sys.executable, "-m", "podtap", *args]


@dataclass(frozen=True)
class HostSnapshot:
    """What a cluster must not leave behind on the host."""

    links: frozenset[str]
    mounts: frozenset[str]
    nft: str
    processes: frozenset[str] = field(default=frozenset())

    @classmethod
    def take(cls, marker: str) -> HostSnapshot:
        links = subprocess.run(["ip", "-o", "link"], capture_output=True, text=True).stdout
        nft = subprocess.run(["nft", "list", "ruleset"], capture_output=True, text=True).stdout
        procs = set()
        for pid in filter(str.isdigit, os.listdir("/proc")):
            try:
                cmd = Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode()
            except OSError:
                continue
            if marker in cmd:
                procs.add(f"{pid}: {cmd}")
        return cls(
            links=frozenset(
                re.sub(r"^\d+: ", "", line).split(":")[0] for line in links.splitlines()
            ),
            mounts=frozenset(Path("/proc/self/mounts").read_text().splitlines()),
            nft=nft,
            processes=frozenset(procs),
        )

    def leftovers_since(self, before: HostSnapshot) -> list[str]:
        out = [f"process left: {p}" for p in self.processes - before.processes]
        out += [f"interface left: {i}" for i in self.links - before.links]
        out += [f"mount left: {m}" for m in self.mounts - before.mounts if not _machine_wide(m)]
        if self.nft != before.nft:
            out.append(f"host nftables changed:\n{self.nft}")
        return out


def _machine_wide(mount: str) -> bool:
    """/run/netns itself: the first `ip netns add` on a machine makes it a mount point, for
    good and for every user of `ip netns` (the namespaces mounted inside it do count)."""
    fields = mount.split()
    return len(fields) > 1 and fields[1] == "/run/netns"


class LocalCluster:
    """One named cluster with its own state home, driven through the CLI."""

    def __init__(self, name: str, state_home: Path | None = None) -> None:
        self.name = name
        self.state_home = state_home or Path(tempfile.mkdtemp(prefix="pt-", dir="/tmp"))
        self.env = {
            **os.environ,
            "PODTAP_STATE_HOME": str(self.state_home),
            "PODTAP_LOCAL_NAME": name,
            # `local up` installs no operator chart (a few seconds each) unless a test asks:
            # up(operator_chart=True), or --operator-chart.
            "PODTAP_LOCAL_OPERATOR_CHART": "false",
        }

    def podtap(
        self, *args: str, check: bool = True, timeout: float = 120, input: str | None = None
    ) -> subprocess.CompletedProcess[str]:
        result = subprocess.run(
            podtap_argv(*args),
            env=self.env,
            capture_output=True,
            text=True,
            timeout=timeout,
            input=input,
        )
        if check and result.returncode != 0:
            raise AssertionError(
                f"podtap {' '.join(args)} exited {result.returncode}:\n"
                f"{result.stdout}\n{result.stderr}"
            )
        return result

    def up(
        self, *files: str | Path, operator_chart: bool = False, values: Sequence[str] = ()
    ) -> None:
        """`podtap local up -f FILE...`, installing the operator chart with `values`
        (``KEY=VALUE``) if asked."""
        args = [a for f in files for a in ("-f", str(f))]
        args += [a for v in values for a in ("--operator-set", v)]
        chart = "--operator-chart" if operator_chart else "--no-operator-chart"
        self.podtap("local", "up", chart, *args)

    @property
    def kubeconfig(self) -> Path:
        """The cluster's admin kubeconfig (`podtap local kubeconfig`)."""
        return self.state_home / "local" / self.name / "kubeconfig"

    def down(self) -> None:
        self.podtap("local", "down", check=False)

    def run(
        self, argv: Sequence[str], *, namespace: str = "default", timeout: float = 60
    ) -> subprocess.CompletedProcess[str]:
        return self.podtap(
            "local", "run", "-n", namespace, "--", *argv, check=False, timeout=timeout
        )

    def curl(self, url: str) -> str:
        result = self.run(["curl", "-sS", "--max-time", "10", url])
        assert result.returncode == 0, f"curl {url} failed: {result.stderr}"
        return result.stdout

    def curl_json(self, url: str) -> Any:
        return json.loads(self.curl(url))

    def get(self, kind: str, *, namespace: str | None = None) -> list[dict[str, Any]]:
        args = ["local", "get", kind, "-o", "json"]
        if namespace:
            args += ["-n", namespace]
        items: list[dict[str, Any]] = json.loads(self.podtap(*args).stdout)["items"]
        return items

    def pods(self, prefix: str = "") -> list[dict[str, Any]]:
        return [p for p in self.get("pods") if p["name"].startswith(prefix)]


def processes_of(cluster: LocalCluster, pattern: str) -> list[int]:
    """Pids whose command line contains `pattern` and that belong to `cluster` (their
    environment names its state home): leftovers of this test run, not of others."""
    marker = f"PODTAP_STATE_HOME={cluster.state_home}".encode()
    found = []
    for pid in filter(str.isdigit, os.listdir("/proc")):
        try:
            cmd = Path(f"/proc/{pid}/cmdline").read_bytes()
            env = Path(f"/proc/{pid}/environ").read_bytes()
        except OSError:
            continue
        if pattern.encode() in cmd and marker in env.split(b"\0"):
            found.append(int(pid))
    return found


def descendants(pid: int) -> set[int]:
    """Every process below `pid` (a node's: its pods' processes, agents and operator too)."""
    children: dict[int, list[int]] = {}
    for entry in filter(str.isdigit, os.listdir("/proc")):
        try:
            stat = Path(f"/proc/{entry}/stat").read_text()
        except OSError:
            continue
        ppid = int(stat.rsplit(")", 1)[1].split()[1])
        children.setdefault(ppid, []).append(int(entry))
    found, todo = set[int](), [pid]
    while todo:
        for child in children.get(todo.pop(), []):
            if child not in found:
                found.add(child)
                todo.append(child)
    return found


def command_has(pid: int, pattern: str) -> bool:
    try:
        return pattern.encode() in Path(f"/proc/{pid}/cmdline").read_bytes()
    except OSError:
        return False
