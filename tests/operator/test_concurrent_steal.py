"""Two developers' `podtap exec` on the same port of the shop: on_concurrent_steal abort,
continue and override, and the session key, end to end on the local cluster."""

from __future__ import annotations

import json
import signal
import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from podtap.testing.localcluster import LocalCluster, podtap_argv
from podtap.testing.wait import wait_until
from tests.exec.test_exec_incoming import LOCAL_APP

APP = f"""
import pathlib, sys
pathlib.Path(sys.argv.pop()).write_text("started")  # the marker: the command started
{LOCAL_APP}"""


@dataclass
class Run:
    """One `podtap exec` of the local app `name` (answers `NAME got ...` on port 8080)."""

    name: str
    proc: subprocess.Popen[bytes]
    err: Path
    marker: Path

    def stderr(self) -> str:
        """What it printed, with lines rejoined (the console wraps them)."""
        return " ".join(self.err.read_text().split())

    def wait_for(self, text: str, timeout: float = 20) -> None:
        wait_until(lambda: text in self.stderr(), timeout=timeout, what=f"{self.name}: {text!r}")

    def session(self, cluster: LocalCluster) -> dict[str, Any]:
        """This run's row of `operator status -o json`."""
        self.wait_for("session ")
        label = self.stderr().split("session ", 1)[1][:16]
        rows = [s for s in sessions(cluster) if s["id"] == label]
        assert rows, f"{label} not in the operator's status"
        return rows[0]


def sessions(cluster: LocalCluster, *args: str) -> list[dict[str, Any]]:
    data = json.loads(cluster.podtap("operator", "status", "-o", "json", *args).stdout)
    return data["sessions"]  # type: ignore[no-any-return]


@contextmanager
def podtap_exec(
    cluster: LocalCluster, tmp: Path, name: str, *flags: str, env: dict[str, str] | None = None
) -> Iterator[Run]:
    app = tmp / "app.py"
    app.write_text(APP)
    run = Run(name, None, tmp / f"{name}.err", tmp / f"{name}.started")  # type: ignore[arg-type]
    with run.err.open("w") as err:
        run.proc = subprocess.Popen(
            podtap_argv(
                "exec",
                "-t",
                "deployment/shop",
                *flags,
                "--",
                sys.executable,
                str(app),
                name,
                str(run.marker),
            ),
            env={**cluster.env, **(env or {})},
            stdout=subprocess.DEVNULL,
            stderr=err,
        )
    try:
        yield run
    finally:
        if run.proc.poll() is None:
            run.proc.send_signal(signal.SIGINT)
        run.proc.wait(timeout=20)


def answer(cluster: LocalCluster) -> str:
    return cluster.run(["curl", "-sS", "--max-time", "10", "http://shop/whoami"]).stdout


def from_pod(text: str) -> bool:
    return '"pod": "shop-' in text


def holder_named(text: str, holder: dict[str, Any]) -> bool:
    return all(part in text for part in (holder["id"], holder["owner"], "since "))


def config(tmp: Path, incoming: dict[str, Any], **top: Any) -> str:
    path = tmp / "podtap.json"
    path.write_text(json.dumps({**top, "feature": {"network": {"incoming": incoming}}}))
    return str(path)


def wait_exit(run: Run, timeout: float = 20) -> int:
    try:
        return run.proc.wait(timeout=timeout)
    except subprocess.TimeoutExpired:
        raise AssertionError(f"{run.name} still runs:\n{run.stderr()}") from None


def steals(row: dict[str, Any]) -> list[int]:
    return [s["port"] for s in row["subscriptions"] if s["mode"] == "steal"]


@contextmanager
def alice_steals(cluster: LocalCluster, tmp: Path) -> Iterator[tuple[Run, dict[str, Any]]]:
    """Alice's `podtap exec --steal`, holding port 8080 of the shop, and her session row."""
    with podtap_exec(cluster, tmp, "alice", "--steal") as alice:
        alice.wait_for("port 8080: steal")
        yield alice, alice.session(cluster)


@pytest.mark.parametrize("ports_known", [True, False], ids=["ports-configured", "app-listens"])
def test_abort_exits_non_zero_naming_the_holder(
    shop: LocalCluster, tmp_path: Path, ports_known: bool
) -> None:
    """With `ports` configured, before the command starts; otherwise when the app listens,
    the command is stopped. Either way alice keeps the port."""
    with alice_steals(shop, tmp_path) as (alice, held):
        flags = ["-f", config(tmp_path, {"mode": "steal", "ports": [8080]})]
        with podtap_exec(shop, tmp_path, "bob", *(flags if ports_known else ["--steal"])) as bob:
            assert wait_exit(bob) != 0, bob.stderr()
            assert holder_named(bob.stderr(), held), bob.stderr()
            assert "aborted (on_concurrent_steal=abort)" in bob.stderr()
            assert bob.marker.exists() is not ports_known, "when the command started"
        assert answer(shop).startswith("alice got")
        assert steals(alice.session(shop)) == [8080]


@pytest.mark.parametrize("by", ["flag", "MIRRORD_OPERATOR_ON_CONCURRENT_STEAL"])
def test_continue_runs_without_the_port_and_the_holder_keeps_it(
    shop: LocalCluster, tmp_path: Path, by: str
) -> None:
    flags = ["--on-concurrent-steal", "continue"] if by == "flag" else []
    env = {} if by == "flag" else {by: "continue"}
    with (
        alice_steals(shop, tmp_path) as (alice, held),
        podtap_exec(shop, tmp_path, "carol", "--steal", *flags, env=env) as carol,
    ):
        carol.wait_for("continuing without port 8080")
        assert holder_named(carol.stderr(), held), carol.stderr()
        assert answer(shop).startswith("alice got")
        assert carol.proc.poll() is None, carol.stderr()
        assert steals(carol.session(shop)) == []
        assert steals(alice.session(shop)) == [8080]


def test_override_takes_the_port_and_the_holder_is_told_and_lets_go(
    shop: LocalCluster, tmp_path: Path
) -> None:
    with alice_steals(shop, tmp_path) as (alice, _):
        with podtap_exec(
            shop,
            tmp_path,
            "bob",
            "--steal",
            env={"PODTAP_OPERATOR_ON_CONCURRENT_STEAL": "override"},
        ) as bob:
            bob.wait_for("port 8080: steal")
            taker = bob.session(shop)
            assert answer(shop).startswith("bob got")
            alice.wait_for("taken over")
            told = alice.stderr().split("taken over", 1)[1][:200]
            assert taker["id"] in told and taker["owner"] in told, alice.stderr()
            assert steals(alice.session(shop)) == []
        # bob is gone; alice's app still listens but no longer claims the port
        wait_until(lambda: from_pod(answer(shop)), timeout=10, what="the pod to answer again")
        assert steals(alice.session(shop)) == []
        assert alice.proc.poll() is None


def test_session_key_is_shown_filtered_and_kills(shop: LocalCluster, tmp_path: Path) -> None:
    with (
        podtap_exec(shop, tmp_path, "alice", "--key", "ticket-42") as alice,
        podtap_exec(shop, tmp_path, "bob", env={"PODTAP_KEY": "ticket-7"}) as bob,
    ):
        alice.wait_for("port 8080: mirror")
        bob.wait_for("port 8080: mirror")
        assert alice.session(shop)["key"] == "ticket-42"
        assert bob.session(shop)["key"] == "ticket-7"
        table = shop.podtap("operator", "status").stdout
        assert "KEY" in table.splitlines()[1] and "ticket-42" in table, table
        only = sessions(shop, "--key", "ticket-42")
        assert [s["id"] for s in only] == [alice.session(shop)["id"]]
        assert "ticket-7" not in shop.podtap("operator", "status", "--key", "ticket-42").stdout
        killed = shop.podtap("operator", "session", "kill-all", "--key", "ticket-7")
        assert "killed 1 session(s)" in killed.stdout
        assert wait_exit(bob) != 0
        assert "Killed" in bob.stderr()
        assert alice.proc.poll() is None
