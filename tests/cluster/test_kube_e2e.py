"""Issue 13 end to end on `podtap local up`, driven only by helm, kubectl and podtap with
kubeconfigs: the chart installed (then upgraded to two replicas), the APIService Available,
`podtap operator status` as a limited user, two limited users stealing with their own
filters on one deployment while the rest reaches the pod, `kubectl get podtapsessions`,
RBAC on killing a session, a leader failover that keeps both sessions, their agent pod
(adopted by the new leader) and their traffic (the gap measured and printed), a Forbidden
naming the target and the verb, and `helm uninstall` leaving no agent pod, no PodtapSession
and no nftables rule in the target pod."""

from __future__ import annotations

import contextlib
import json
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from podtap.testing.localcluster import LocalCluster, podtap_argv
from podtap.testing.wait import wait_until
from tests.cluster.test_helm_local import Helm
from tests.cluster.test_kubectl_local import Kubectl, _ready
from tests.exec.test_exec_incoming import LOCAL_APP

SHOP = Path(__file__).parents[2] / "examples" / "shop"
CHART = Path(__file__).parents[2] / "charts" / "podtap-operator"
NS = ("-n", "podtap")
RESUMED = "reconnected, session "
APISERVICE = "v1.operator.podtap.dev"
OPERATORS = "app.kubernetes.io/name=podtap-operator"
AGENT_SELECTOR = "app.kubernetes.io/name=podtap-agent,app.kubernetes.io/managed-by=podtap-operator"
CURL = ("curl", "-sS", "--max-time", "10")
#: A client pod asking the Service as alice every 0.1 s, one line per answer: TIME BODY.
PROBE = """
while true; do
  body=$(curl -s --max-time 1 -H 'x-user: alice' http://shop/probe)
  echo "$(date +%s.%N) $body"
  sleep 0.1
done
"""


def _probe_pod() -> str:
    doc = {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {"name": "probe", "namespace": "default"},
        "spec": {"containers": [{"name": "probe", "image": "busybox",
                                 "command": ["sh", "-c", PROBE]}]},
    }  # fmt: skip
    return json.dumps(doc)


def _errors(stderr: str) -> list[str]:
    """The error lines of podtap's stderr (its progress lines start with `podtap:`)."""
    assert "Traceback" not in stderr, stderr
    return [line for line in stderr.splitlines() if line.startswith("error:")]


class E2E:
    """The cluster, its admin kubectl and helm, and the users' kubeconfigs."""

    def __init__(self, cluster: LocalCluster, home: Path) -> None:
        self.c, self.home = cluster, home
        self.admin = Path(cluster.podtap("local", "kubeconfig").stdout.strip())
        self.kubectl, self.helm = Kubectl(self.admin, home), Helm(self.admin, home)

    def user(self, name: str) -> Path:
        out = self.home / f"{name}.kubeconfig"
        self.c.podtap("local", "kubeconfig", "--user", name, "--out", str(out))
        return out

    def curl(self, *headers: str, path: str = "/x") -> str:
        args = [a for h in headers for a in ("-H", h)]
        done = self.c.run([*CURL, *args, f"http://shop{path}"])
        assert done.returncode == 0, done.stderr
        return done.stdout

    def operators(self) -> list[dict[str, Any]]:
        pods: list[dict[str, Any]] = self.kubectl.json("pods", *NS, "-l", OPERATORS)["items"]
        return [p for p in pods if not p["metadata"].get("deletionTimestamp")]

    def leader(self) -> str | None:
        """The Ready operator pod the Lease names and the label marks, if any."""
        lease = self.kubectl.json("lease", "podtap-operator-leader", *NS)
        holder = lease["spec"].get("holderIdentity")
        for pod in self.operators():
            labels = pod["metadata"].get("labels") or {}
            if pod["metadata"]["name"] == holder and labels.get("podtap.dev/leader") == "true":
                return holder if _ready(pod) else None
        return None

    def sessions(self) -> list[dict[str, Any]]:
        items: list[dict[str, Any]] = self.kubectl.json("podtapsessions")["items"]
        return items

    def agents(self) -> list[str]:
        out = self.kubectl("get", "pods", "-A", "-l", AGENT_SELECTOR, "-o", "name").stdout
        return out.split()

    def target_rules(self) -> str:
        """`nft list ruleset` in the network namespace of the shop pod."""
        (pod,) = self.kubectl.json("pods", "-l", "app=shop")["items"]
        pid = pod["status"]["containerStatuses"][0]["containerID"].removeprefix("podtap://")
        done = subprocess.run(["nsenter", "-t", pid, "-n", "nft", "list", "ruleset"],
                              capture_output=True, text=True, timeout=30)  # fmt: skip
        assert done.returncode == 0, done.stderr
        return done.stdout


@contextlib.contextmanager
def stealing(e: E2E, who: str, config: Path) -> Iterator[tuple[subprocess.Popen[bytes], Path]]:
    """`podtap exec --steal --filter '^x-user: WHO$'` of a local app answering as WHO, with
    WHO's kubeconfig, once its port is stolen; stopped (SIGINT) when the block ends."""
    app, errors = e.home / "app.py", e.home / f"{who}.err"
    app.write_text(LOCAL_APP)
    argv = podtap_argv("exec", "--kubeconfig", str(config), "-t", "deployment/shop", "--steal",
                       "--filter", f"^x-user: {who}$", "--", sys.executable, str(app),
                       f"{who}'s laptop")  # fmt: skip
    with errors.open("w") as err:
        proc = subprocess.Popen(argv, env=e.c.env, stdout=subprocess.DEVNULL, stderr=err)
    try:
        wait_until(
            lambda: "port 8080: steal" in errors.read_text() or proc.poll() is not None,
            timeout=40, what=f"{who}'s port stolen",
        )  # fmt: skip
        assert proc.poll() is None, errors.read_text()
        yield proc, errors
    finally:
        if proc.poll() is None:
            proc.send_signal(signal.SIGINT)
        proc.wait(timeout=30)


def install(e: E2E) -> None:
    """1. `local up` installed the chart; upgraded to two replicas, both run, one leads."""
    status = json.loads(e.helm("status", "podtap", *NS, "-o", "json").stdout)
    assert status["info"]["status"] == "deployed"
    e.helm("upgrade", "--install", "podtap", str(CHART), *NS, "--reuse-values",
           "--set", "replicas=2", "--wait", "--timeout", "90s")  # fmt: skip
    wait_until(lambda: len([p for p in e.operators() if _ready(p)]) == 2 and e.leader(),
               timeout=40, what="two operator pods Ready, one leading")  # fmt: skip
    row = e.kubectl("get", "apiservice", APISERVICE, "--no-headers").stdout.split()
    assert row[:3] == [APISERVICE, "podtap/podtap-operator", "True"], row


def _gap(lines: list[str], *, since: float) -> tuple[float, float] | None:
    """From the probe's lines: (gap, outage) once alice's process has answered the last 10
    probes: gap from `since` to its first answer after the last other one, outage how long
    others answered; None before."""
    answers = [(float(t), b.startswith("alice's laptop")) for t, _, b in
               (line.partition(" ") for line in lines) if float(t) > since]  # fmt: skip
    if len(answers) < 10 or not all(ok for _, ok in answers[-10:]):
        return None
    others = [t for t, ok in answers if not ok]
    if not others:
        return 0.0, 0.0
    back = next(t for t, ok in answers if ok and t > others[-1])
    return back - since, others[-1] - others[0]


def failover(e: E2E, errors: list[Path]) -> tuple[float, float]:
    """6. Deleting the leader: the lease moves, both sessions stay, their clients resume and
    alice's traffic comes back; returns (gap, outage) as the probe pod saw them."""
    old = e.leader()
    assert old is not None
    before = {s["metadata"]["name"]: s["metadata"]["uid"] for s in e.sessions()}
    agents = e.agents()
    resumed = [f.read_text().count(RESUMED) for f in errors]
    killed = time.time()
    e.kubectl("delete", "pod", *NS, old, "--wait=false")
    new = wait_until(lambda: (n := e.leader()) != old and n, timeout=30, what="a new leader",
                     interval=0.1)  # fmt: skip
    moved = time.time() - killed
    lease = e.kubectl.json("lease", "podtap-operator-leader", *NS)
    assert lease["spec"]["holderIdentity"] == new != old
    for file, count in zip(errors, resumed, strict=True):
        wait_until(lambda f=file, n=count: f.read_text().count(RESUMED) > n,
                   timeout=60, what=f"{file.stem}'s client to resume")  # fmt: skip
    found = wait_until(
        lambda: _gap(e.kubectl("logs", "probe").stdout.splitlines(), since=killed),
        timeout=60, what="alice's process answering again", interval=0.5,
    )  # fmt: skip
    assert {s["metadata"]["name"]: s["metadata"]["uid"] for s in e.sessions()} == before
    assert e.agents() == agents  # adopted by the new leader, not started anew
    lines = [line for f in errors for line in f.read_text().splitlines() if RESUMED in line]
    print(f"failover: the lease moved {moved:.2f} s after the leader was deleted; {lines[-2:]}")
    return found


def test_issue_13_end_to_end(make_cluster: type[LocalCluster], tmp_path: Path) -> None:
    c = make_cluster("t-kube-e2e")
    c.up(SHOP, operator_chart=True)
    e = E2E(c, tmp_path)
    install(e)

    alice, bob, carol = e.user("alice"), e.user("bob"), e.user("carol")
    for who in ("alice", "bob"):
        e.kubectl("create", "clusterrolebinding", f"{who}-podtap",
                  "--clusterrole=podtap-operator-user", f"--user={who}")  # fmt: skip
    # 2. A limited user sees the operator.
    status = c.podtap("operator", "status", "--kubeconfig", str(alice)).stdout
    assert status.startswith("podtap operator ") and "0 session(s)" in status

    # 8. Without RBAC on the target: one line naming it and the verb.
    denied = c.podtap("exec", "--kubeconfig", str(carol), "-t", "deployment/shop", "--steal",
                      "--", "true", check=False)  # fmt: skip
    assert denied.returncode != 0 and "Traceback" not in denied.stderr, denied.stderr
    (line,) = _errors(denied.stderr)
    assert line.startswith(
        'error: targets.operator.podtap.dev "deployment.shop" is forbidden: '
        'User "carol" cannot proxy resource "targets"'
    ), line
    assert line.endswith(
        "ask a cluster admin for operator.podtap.dev targets/deployment.shop "
        "proxy in namespace default"
    ), line

    rules_before = e.target_rules()
    with contextlib.ExitStack() as stack:
        # 3. Two users steal with their own filters, at once; the rest reaches the pod.
        proc_a, err_a = stack.enter_context(stealing(e, "alice", alice))
        proc_b, err_b = stack.enter_context(stealing(e, "bob", bob))
        assert e.curl("x-user: alice") == "alice's laptop got /x for alice"
        assert e.curl("x-user: bob") == "bob's laptop got /x for bob"
        assert json.loads(e.curl(path="/whoami"))["pod"].startswith("shop-")
        # 4. Both sessions, with their users.
        table = e.kubectl("get", "podtapsessions").stdout
        users = {s["spec"]["user"]: s["metadata"]["name"] for s in e.sessions()}
        assert sorted(users) == ["alice", "bob"], table
        header, *rows = (line.split() for line in table.splitlines())
        assert header[:3] == ["NAME", "USER", "TARGET"], table
        assert sorted((r[1], r[2]) for r in rows) == [("alice", "shop"), ("bob", "shop")], table
        # 5a. bob cannot end alice's session.
        refused = c.podtap("operator", "session", "kill", users["alice"], "--kubeconfig",
                           str(bob), check=False)  # fmt: skip
        assert refused.returncode != 0
        (line,) = _errors(refused.stderr)
        print(f"bob killing alice's session: {line}")
        owner = line.removeprefix(f"error: session {users['alice'].upper()} belongs to ")
        assert owner.endswith("; only its owner or an admin may kill it") and "alice" in owner, line
        # 6. Failover: the gap, measured from a client pod.
        e.kubectl("apply", "-f", "-", stdin=_probe_pod())
        stack.callback(e.kubectl, "delete", "pod", "probe", "--grace-period=0", "--force",
                       ok=False)  # fmt: skip
        e.kubectl("wait", "--for=condition=Ready", "pod/probe", "--timeout=30s")
        gap, outage = failover(e, [err_a, err_b])
        print(
            f"failover: leader deleted -> alice's process answers again {gap:.2f} s "
            f"(the pod's app answered alice for {outage:.2f} s)"
        )
        assert proc_a.poll() is None and proc_b.poll() is None
        wait_until(lambda: e.curl("x-user: bob") == "bob's laptop got /x for bob",
                   timeout=20, what="bob's process answering again")  # fmt: skip
        # 5b. An admin can end alice's session; her podtap exec ends, saying so.
        c.podtap("operator", "session", "kill", users["alice"], "--kubeconfig", str(e.admin))
        assert proc_a.wait(timeout=30) != 0
        print(f"alice's podtap exec after the kill: {err_a.read_text().splitlines()[-1]}")
        wait_until(lambda: [s["spec"]["user"] for s in e.sessions()] == ["bob"],
                   timeout=20, what="alice's session object gone")  # fmt: skip
        assert "podtap_agent" in e.target_rules()  # bob still steals
        # 7. Bob's agent pod belongs to the release's ClusterRole: it goes with it.
        role_uid = e.kubectl.json("clusterrole", "podtap-operator")["metadata"]["uid"]
        (agent,) = e.kubectl.json("pods", "-l", AGENT_SELECTOR)["items"]
        assert agent["metadata"]["ownerReferences"] == [
            {"apiVersion": "rbac.authorization.k8s.io/v1", "kind": "ClusterRole",
             "name": "podtap-operator", "uid": role_uid}
        ]  # fmt: skip
    # 7. helm uninstall: no agent pod, no session object, no nftables rule in the target.
    e.helm("uninstall", "podtap", *NS, "--wait", "--timeout", "60s")
    wait_until(lambda: not e.agents(), timeout=30, what="the agent pods gone")
    crds = e.kubectl("api-resources", "-o", "name").stdout
    assert "podtapsessions.podtap.dev" not in crds
    wait_until(lambda: e.target_rules() == rules_before, timeout=20, what="the rules gone")
