"""Issue 14's enforcement end to end on `podtap local up` with the chart: an admin applies
examples/policies' steal-without-filter policy with kubectl, and the operator (which
watches policies live) refuses an unfiltered `podtap exec --steal` in one line naming the
policy, while a filtered one steals as before; a policy applied while that steal runs
(a required x-team header) drops it within 5 s, its run saying why in one line."""

from __future__ import annotations

import signal
import subprocess
import sys
import time
from pathlib import Path

from podtap.testing.localcluster import LocalCluster, podtap_argv
from podtap.testing.wait import wait_until
from tests.cluster.test_kube_e2e import E2E, SHOP, stealing
from tests.exec.test_exec_incoming import LOCAL_APP

POLICY = Path(__file__).parents[2] / "examples" / "policies" / "steal-without-filter.yaml"
NAME = "policy default/no-unfiltered-steal"
REFUSAL = (
    f"{NAME} blocks steal without an HTTP filter on deployment/shop: "
    "set feature.network.incoming.http_filter"
)


TEAM = """
apiVersion: policies.podtap.dev/v1alpha1
kind: PodtapPolicy
metadata: {name: steal-by-team, namespace: default}
spec:
  network: {incoming: {httpFilter: {headerFilter: "x-team: .+"}}}
"""
TEAM_REFUSAL = (
    "policy default/steal-by-team requires a steal on deployment/shop to filter on a header "
    "matching 'x-team: .+' (all_of: at least one item; any_of: every header item)"
)


def _answered(stderr: str) -> bool:
    """Whether a whole line of ``stderr`` tells how port 8080's steal was answered."""
    return any("port 8080" in x for x in stderr.splitlines(keepends=True) if x.endswith("\n"))


def _unfiltered_steal(e: E2E) -> str:
    """`podtap exec --steal` with no filter of a local app: its stderr once the steal of
    port 8080 was answered (the run is stopped then)."""
    app, errors = e.home / "app.py", e.home / "unfiltered.err"
    app.write_text(LOCAL_APP)
    argv = podtap_argv("exec", "--kubeconfig", str(e.admin), "-t", "deployment/shop", "--steal",
                       "--", sys.executable, str(app), "my laptop")  # fmt: skip
    with errors.open("w") as err:
        proc = subprocess.Popen(argv, env=e.c.env, stdout=subprocess.DEVNULL, stderr=err)
    try:
        wait_until(
            lambda: _answered(errors.read_text()) or proc.poll() is not None,
            timeout=40, what="the steal of port 8080 answered",
        )  # fmt: skip
        return errors.read_text()
    finally:
        if proc.poll() is None:
            proc.send_signal(signal.SIGINT)
        proc.wait(timeout=30)


def test_an_unfiltered_steal_is_refused_by_the_applied_policy(
    make_cluster: type[LocalCluster], tmp_path: Path
) -> None:
    c = make_cluster("t-kube-pol")
    c.up(SHOP, operator_chart=True)
    e = E2E(c, tmp_path)
    # The example is for namespace shop; the shop example runs in default.
    policy = POLICY.read_text().replace("namespace: shop", "namespace: default")
    e.kubectl("apply", "-f", "-", stdin=policy)
    try:
        stderr = wait_until(
            lambda: next((o for o in [_unfiltered_steal(e)] if "not subscribed" in o), None),
            timeout=60, what="the operator to refuse an unfiltered steal", interval=1,
        )  # fmt: skip
        assert "Traceback" not in stderr, stderr
        (line,) = [x for x in stderr.splitlines() if "not subscribed" in x]
        assert line.endswith(f"port 8080 not subscribed: {REFUSAL}"), line
        assert "my laptop" not in e.curl()  # the pod's app answers
        with stealing(e, "alice", e.admin) as (_, errors):
            assert e.curl("x-user: alice") == "alice's laptop got /x for alice"
            # A policy added while the steal runs drops it within 5 s, saying why.
            e.kubectl("apply", "-f", "-", stdin=TEAM)
            added = time.monotonic()
            wait_until(lambda: "PolicyChanged" in errors.read_text(), timeout=5,
                       what="alice told her steal is dropped")  # fmt: skip
            wait_until(lambda: "alice's laptop" not in e.curl("x-user: alice"), timeout=5,
                       what="alice's requests back to the pod")  # fmt: skip
            print(f"policy added -> steal dropped in {time.monotonic() - added:.2f} s")
            (told,) = [x for x in errors.read_text().splitlines() if "PolicyChanged" in x]
            assert told.endswith(f"PolicyChanged: {TEAM_REFUSAL}; port 8080 is dropped from "
                                 "this session"), told  # fmt: skip
    finally:
        for doc in (TEAM, policy):
            e.kubectl("delete", "-f", "-", "--ignore-not-found", stdin=doc, ok=False)
