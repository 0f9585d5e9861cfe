"""Issue 14's cases end to end on the shop (its operator installed by the chart): an admin
applies a policy or profile with kubectl, the operator takes it in live (its status lists
what is in force), and `podtap exec` as a developer runs into it: a required header filter
for plain, all_of and any_of steals; an env var excluded; a file hidden and one read-only;
an outgoing connection blocked while another works; a session without the profile a policy
requires refused; a profile turning a steal into a mirror. Each policy goes when its test
ends (the operator's status says so before the next test)."""

from __future__ import annotations

import json
import signal
import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest
import yaml

from podtap.testing.localcluster import LocalCluster, podtap_argv
from podtap.testing.wait import wait_until
from tests.cluster.test_kubectl_local import Kubectl
from tests.exec.test_exec_incoming import LOCAL_APP
from tests.exec.test_exec_spec import answer


def _label(doc: dict[str, Any]) -> tuple[str, str]:
    """Where the operator's status lists the object, and how (policies/profiles, label)."""
    kind, meta = doc["kind"], doc["metadata"]
    where = "profiles" if "Profile" in kind else "policies"
    cluster = kind.startswith(("PodtapCluster", "MirrordCluster"))
    if where == "profiles":
        return (
            where,
            f"profile {meta['name'] if cluster else meta['namespace'] + '/' + meta['name']}",
        )
    return where, (f"cluster policy {meta['name']}" if cluster else
                   f"policy {meta['namespace']}/{meta['name']}")  # fmt: skip


def _in_force(shop: LocalCluster) -> dict[str, list[str]]:
    data = json.loads(shop.podtap("operator", "status", "-o", "json").stdout)
    return {"policies": data.get("policies", []), "profiles": data.get("profiles", [])}


@contextmanager
def applied(shop: LocalCluster, *docs: str) -> Iterator[None]:
    """`kubectl apply` of `docs`, in force at the operator; deleted after, and gone there."""
    kubectl = Kubectl(shop.kubeconfig, shop.state_home)
    labels = [_label(yaml.safe_load(d)) for d in docs]
    try:
        for doc in docs:
            kubectl("apply", "-f", "-", stdin=doc)
        wait_until(
            lambda: all(label in _in_force(shop)[where] for where, label in labels),
            timeout=10, what=f"the operator to take in {labels}", interval=0.2,
        )  # fmt: skip
        yield
    finally:
        for doc in docs:
            kubectl("delete", "-f", "-", "--ignore-not-found", stdin=doc, ok=False)
        wait_until(
            lambda: not any(label in _in_force(shop)[where] for where, label in labels),
            timeout=10, what=f"the operator to drop {labels}", interval=0.2,
        )  # fmt: skip


def run(shop: LocalCluster, *args: str) -> subprocess.CompletedProcess[str]:
    """`podtap exec -t deployment/shop ARGS` (flags, then -- and the command)."""
    return shop.podtap("exec", "-t", "deployment/shop", *args, check=False, timeout=90)


def errors(done: subprocess.CompletedProcess[str]) -> str:
    return " ".join(done.stderr.split())  # long lines are wrapped


def steal_answer(shop: LocalCluster, tmp_path: Path, config: dict[str, Any]) -> str:
    """Start `podtap exec` of a local app on port 8080 with `config`; its stderr once the
    steal (or mirror) of port 8080 is answered (then it is stopped)."""
    app, conf, err_file = tmp_path / "app.py", tmp_path / "podtap.json", tmp_path / "exec.err"
    app.write_text(LOCAL_APP)
    conf.write_text(json.dumps({"target": "deployment/shop", **config}))
    argv = podtap_argv("exec", "-f", str(conf), "--", sys.executable, str(app), "mine")
    with err_file.open("w") as err:
        proc = subprocess.Popen(argv, env=shop.env, stdout=subprocess.DEVNULL, stderr=err)
    try:
        wait_until(
            lambda: _answered(err_file.read_text()) or proc.poll() is not None,
            timeout=40, what="port 8080's subscription answered",
        )  # fmt: skip
        return " ".join(err_file.read_text().split())
    finally:
        if proc.poll() is None:
            proc.send_signal(signal.SIGINT)
        proc.wait(timeout=30)


def _answered(text: str) -> bool:
    lines = text.splitlines(keepends=True)
    return any("port 8080" in x and x.endswith("\n") for x in lines)


def steal(http_filter: dict[str, Any]) -> dict[str, Any]:
    incoming = {"mode": "steal", "http_filter": http_filter}
    return {"feature": {"network": {"incoming": incoming}}}


BY_USER = """
apiVersion: policies.podtap.dev/v1alpha1
kind: PodtapPolicy
metadata: {name: steal-by-user, namespace: default}
spec:
  targetPath: "deployment/shop"
  network: {incoming: {httpFilter: {headerFilter: "x-user: .+"}}}
"""
BY_USER_REFUSAL = (
    "policy default/steal-by-user requires a steal on deployment/shop to filter on a header "
    "matching 'x-user: .+'"
)


@pytest.mark.parametrize(
    ("http_filter", "allowed"),
    [
        ({"header_filter": "x-user: alice"}, True),
        ({"header_filter": "x-team: a"}, False),
        ({"all_of": [{"header": "x-team: a"}, {"header": "x-user: bob"}]}, True),
        ({"all_of": [{"header": "x-team: a"}, {"path": "^/x"}]}, False),
        ({"any_of": [{"header": "x-user: a"}, {"header": "x-user: b"}]}, True),
        ({"any_of": [{"header": "x-user: a"}, {"header": "x-team: b"}]}, False),
    ],
    ids=["plain", "plain-other-header", "all_of", "all_of-none", "any_of", "any_of-one"],
)
def test_a_required_header_filter_is_enforced_for_plain_all_of_and_any_of(
    shop: LocalCluster, tmp_path: Path, http_filter: dict[str, Any], allowed: bool
) -> None:
    with applied(shop, BY_USER):
        said = steal_answer(shop, tmp_path, steal(http_filter))
    assert "Traceback" not in said, said
    if allowed:
        assert "port 8080: steal" in said and "not subscribed" not in said, said
    else:
        assert f"port 8080 not subscribed: {BY_USER_REFUSAL}" in said, said


NO_KEY = """
apiVersion: policies.podtap.dev/v1alpha1
kind: PodtapPolicy
metadata: {name: no-api-key, namespace: default}
spec:
  selector: {matchLabels: {app: shop}}
  env: {exclude: ["SHOP_*_KEY"]}
"""
PRINT_KEY = "import os; print(os.environ.get('SHOP_API_KEY', 'absent'))"


def test_an_excluded_env_var_is_absent_from_the_command(shop: LocalCluster) -> None:
    before = run(shop, "--", sys.executable, "-c", PRINT_KEY)
    assert before.stdout.strip() == "s3cr3t-key-42", before.stderr
    with applied(shop, NO_KEY):  # its selector matches the Deployment's own labels
        done = run(shop, "--", sys.executable, "-c", PRINT_KEY)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "absent", done.stdout


FILES = """
apiVersion: policies.podtap.dev/v1alpha1
kind: PodtapPolicy
metadata: {name: files, namespace: default}
spec:
  targetPath: "deployment/shop*"
  fs:
    notFound: ["^/etc/shop/config/greeting$"]
    readOnly: ["^/opt/shop/"]
"""


def test_a_not_found_file_is_missing_and_a_read_only_one_is_not_writable(
    shop: LocalCluster,
) -> None:
    script = (
        "{ cat /etc/shop/config/greeting && echo; } 2>/dev/null || echo greeting-absent; "
        "head -c 6 /opt/shop/frontend.py; echo; "
        "{ echo x >> /opt/shop/frontend.py; } 2>/dev/null || echo code-read-only"
    )
    before = run(shop, "--", "sh", "-c", script)
    assert before.stdout.splitlines()[0] == "Welcome to the podtap shop", before.stderr
    with applied(shop, FILES):
        done = run(shop, "--", "sh", "-c", script)
    assert done.returncode == 0, done.stderr
    assert done.stdout.splitlines() == ["greeting-absent", "import", "code-read-only"]


NO_CATALOG = """
apiVersion: policies.podtap.dev/v1alpha1
kind: PodtapPolicy
metadata: {name: no-catalog, namespace: default}
spec:
  network:
    outgoing:
      block:
        - hostname: 'catalog(\\.default(\\.svc(\\.cluster\\.local)?)?)?'
          ports: [{protocol: TCP, port: 80}]
"""
FETCH = """
import sys, urllib.request
for url in sys.argv[1:]:
    try:
        urllib.request.urlopen(url, timeout=10).read()
        print(url, "ok")
    except Exception as exc:
        print(url, "refused", type(exc).__name__)
"""


def test_an_outgoing_block_refuses_one_service_while_another_works(shop: LocalCluster) -> None:
    urls = ("http://catalog/items", "http://shop/whoami")
    with applied(shop, NO_CATALOG):
        done = run(shop, "--", sys.executable, "-c", FETCH, *urls)
    assert done.returncode == 0, done.stderr
    lines = done.stdout.splitlines()
    assert lines[0].startswith("http://catalog/items refused"), done
    assert lines[1] == "http://shop/whoami ok", done
    assert "policy default/no-catalog blocks" in errors(done), done.stderr


NEEDS_PROFILE = """
apiVersion: policies.podtap.dev/v1alpha1
kind: PodtapClusterPolicy
metadata: {name: shop-needs-a-profile}
spec:
  selector: {matchLabels: {app: shop}}
  requireProfile: true
  profileAllowlist: [mirror-only]
"""
MIRROR_ONLY = """
apiVersion: profiles.podtap.dev/v1alpha1
kind: PodtapClusterProfile
metadata: {name: mirror-only}
spec:
  featureAdjustments: [{change: incoming-mirror}]
"""


def test_a_required_profile_refuses_a_session_without_one(shop: LocalCluster) -> None:
    with applied(shop, NEEDS_PROFILE, MIRROR_ONLY):
        refused = run(shop, "--", "true")
        allowed = run(shop, "--profile", "mirror-only", "--", "true")
    assert refused.returncode == 1, refused.stderr
    (line,) = [x for x in refused.stderr.splitlines() if x.startswith("error:")]
    assert "cluster policy shop-needs-a-profile" in line and "profile" in line, line
    assert allowed.returncode == 0, allowed.stderr


def test_a_profile_turns_a_steal_into_a_mirror(shop: LocalCluster, tmp_path: Path) -> None:
    config = {**steal({"header_filter": "x-user: me"}), "profile": "mirror-only"}
    with applied(shop, MIRROR_ONLY):
        said = steal_answer(shop, tmp_path, config)
        assert answer(shop, "/x", user="me") == "pod"  # mirrored: the pod still answers
    assert "podtap: profile mirror-only: incoming steal -> mirror" in said, said
    assert "port 8080: mirror" in said, said
