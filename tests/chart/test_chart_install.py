"""The chart installed by the real helm into the in-process API server, used with the real kubectl.

No pod runs behind that server, so this is about the objects: that an upgrade keeps the
self-signed certificate (helm's `lookup`), that the installed CRD admits, refuses and lists
sessions, that the user ClusterRoles grant what the README says, and that uninstall leaves
nothing of the chart behind (the CRD and its sessions included).
"""

from __future__ import annotations

import json
import subprocess
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from podtap.backends.local.kubeapi.app import Running
from podtap.core.policy.crds import definitions
from podtap.core.queues.crds import definitions as split_definitions
from tests.chart.cases import SAMPLES
from tests.chart.render import CHART, FULLNAME
from tests.kubeapi.cli import run
from tests.kubeapi.conftest import api, helm_bin, kubectl_bin

__all__ = ["api", "helm_bin", "kubectl_bin"]  # the API server and tools of tests/kubeapi

NS = ("-n", "podtap")
CLUSTER_KINDS = "apiservices,crds,clusterroles,clusterrolebindings"
APISERVICE = ("apiservice", "v1.operator.podtap.dev")


@dataclass(frozen=True)
class Cli:
    api: Running
    kubectl_bin: Path
    helm_bin: Path

    def kubectl(self, *args: str, stdin: str = "", ok: bool = True) -> str:
        done = run(self.kubectl_bin, self.api, *args, stdin=stdin, ok=ok)
        return done.stdout if done.returncode == 0 else done.stderr

    def helm(self, *args: str, ok: bool = True) -> subprocess.CompletedProcess[str]:
        return run(self.helm_bin, self.api, *args, ok=ok)

    def get(self, *what: str) -> Any:
        return json.loads(self.kubectl("get", *what, "-o", "json"))

    def install(self, *args: str) -> None:
        self.helm("install", FULLNAME, str(CHART), *NS, "--create-namespace", *args)

    def uninstall(self) -> None:
        self.helm("uninstall", FULLNAME, *NS, ok=False)

    def ours(self) -> list[str]:
        """Cluster-scoped objects of the chart, by its instance label."""
        selector = f"app.kubernetes.io/instance={FULLNAME}"
        return self.kubectl("get", CLUSTER_KINDS, "-l", selector, "-o", "name").split()

    def can(self, user: str, verb: str, resource: str) -> bool:
        """A SubjectAccessReview, as the API server makes before proxying to the operator
        (kubectl auth can-i cannot name operator.podtap.dev's resources: no operator serves
        their discovery here)."""
        name, _, group = resource.partition(".")
        attributes = {"group": group, "resource": name, "verb": verb, "name": "web"}
        review = {
            "apiVersion": "authorization.k8s.io/v1",
            "kind": "SubjectAccessReview",
            "spec": {"user": user, "resourceAttributes": attributes},
        }
        out = self.kubectl("create", "-f", "-", "-o", "json", stdin=json.dumps(review))
        allowed: bool = json.loads(out)["status"]["allowed"]
        return allowed


@pytest.fixture
def cli(api: Running, kubectl_bin: Path, helm_bin: Path) -> Cli:
    return Cli(api, kubectl_bin, helm_bin)


@pytest.fixture
def installed(cli: Cli) -> Iterator[Cli]:
    cli.install()
    try:
        yield cli
    finally:
        cli.uninstall()


def test_upgrade_keeps_the_self_signed_certificate(installed: Cli) -> None:
    cli = installed
    before = cli.get("secret", f"{FULLNAME}-tls", *NS)["data"]
    ca = cli.get(*APISERVICE)["spec"]["caBundle"]
    assert before["ca.crt"] == ca
    cli.helm("upgrade", FULLNAME, str(CHART), *NS, "--set", "replicas=2")
    assert cli.get("deploy", FULLNAME, *NS)["spec"]["replicas"] == 2
    assert cli.get("secret", f"{FULLNAME}-tls", *NS)["data"] == before
    assert cli.get(*APISERVICE)["spec"]["caBundle"] == ca


def test_sessions_are_admitted_listed_and_refused_by_the_installed_crd(installed: Cli) -> None:
    cli = installed
    cli.kubectl("apply", "-f", str(SAMPLES / "steal-deployment.yaml"))
    listed = cli.kubectl("get", "pts").splitlines()
    assert listed[0].split() == ["NAME", "USER", "TARGET", "NAMESPACE", "MODE", "STATE", "AGE"]
    row = ["7f3c9a2e", "alice@example.com", "shop-web", "shop", "filtered-steal"]
    assert listed[1].split()[:5] == row
    refused = cli.kubectl("apply", "-f", str(SAMPLES / "bad" / "mode-unknown.yaml"), ok=False)
    assert "spec.mode" in refused and "redirect" in refused


def test_user_roles_grant_what_the_readme_says(installed: Cli) -> None:
    cli = installed
    people = {"alice": "user", "ci-bot": "ci", "root": "admin"}
    for who, role in people.items():
        binding = ("clusterrolebinding", f"podtap-{who}")
        cli.kubectl("create", *binding, f"--clusterrole={FULLNAME}-{role}", f"--user={who}")
    try:
        for who in people:
            assert cli.can(who, "proxy", "targets.operator.podtap.dev")
            assert cli.can(who, "list", "podtapsessions.podtap.dev")
        assert cli.can("alice", "delete", "sessions.operator.podtap.dev")  # own only: operator
        assert not cli.can("alice", "kill", "sessions.operator.podtap.dev")
        assert cli.can("root", "kill", "sessions.operator.podtap.dev")
        assert cli.can("ci-bot", "delete", "sessions.operator.podtap.dev")
        assert cli.can("root", "delete", "podtapsessions.podtap.dev")
        assert not cli.can("mallory", "proxy", "targets.operator.podtap.dev")
    finally:
        for who in people:
            cli.kubectl("delete", "clusterrolebinding", f"podtap-{who}", ok=False)


def test_uninstall_leaves_nothing_of_the_chart(cli: Cli) -> None:
    cli.install()
    try:
        # APIService, the sessions CRD, 4 ClusterRoles, 2 ClusterRoleBindings, policy CRDs
        assert len(cli.ours()) == 8 + len(definitions()) + len(split_definitions())
        cli.kubectl("apply", "-f", str(SAMPLES / "mirror-pod.yaml"))
    finally:
        cli.uninstall()
    assert cli.ours() == []
    for ns in ("podtap", "kube-system"):
        kinds = "all,secrets,roles,rolebindings,serviceaccounts"
        left = cli.kubectl("get", kinds, "-n", ns, "-o", "name").split()
        assert [n for n in left if FULLNAME in n] == [], ns
    assert "podtapsessions" not in cli.kubectl("api-resources", "-o", "name")
