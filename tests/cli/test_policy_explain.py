"""The real `podtap policy explain` against the API server in-process, with the chart's CRDs
(rendered by the real helm) and examples/policies applied by the real kubectl: what the
operator would decide, in text and JSON, and each failure as one line."""

from __future__ import annotations

import json
import os
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml

from podtap.backends.local.kubeapi.app import Running
from podtap.testing.localcluster import podtap_argv
from tests.chart.render import kinds, render
from tests.kubeapi.cli import run
from tests.kubeapi.server import in_thread, tools

ROOT = Path(__file__).resolve().parents[2]
API_DEPLOYMENT = """\
apiVersion: apps/v1
kind: Deployment
metadata: {name: api, namespace: shop, labels: {app: api}}
spec:
  selector: {matchLabels: {app: api}}
  template:
    metadata: {labels: {app: api}}
    spec:
      containers:
      - {name: api, image: shop-api}
"""
STEAL = {"feature": {"network": {"incoming": {"mode": "steal"}}}}
UNFILTERED = "blocks steal without an HTTP filter on deployment/api"
HEADER = "requires a steal on deployment/api to filter on a header matching 'x-user: .+'"


def kubectl(api: Running, *args: str, stdin: str = "") -> None:
    run(tools() / "kubectl", api, *args, stdin=stdin)


@pytest.fixture(scope="module")
def api() -> Iterator[Running]:
    with in_thread() as running:
        crds = kinds(render({}), "CustomResourceDefinition")
        kubectl(running, "apply", "-f", "-", stdin=yaml.safe_dump_all(list(crds)))
        kubectl(running, "create", "namespace", "shop")
        kubectl(running, "apply", "-f", "-", stdin=API_DEPLOYMENT)
        kubectl(running, "apply", "-f", str(ROOT / "examples" / "policies"))
        yield running


def explain(
    api: Running,
    tmp_path: Path,
    *args: str,
    config: dict[str, Any] | None = None,
    kubeconfig: Path | None = None,
) -> subprocess.CompletedProcess[str]:
    """`podtap policy explain -t deployment/api -n shop ARGS` with `config` as its -f."""
    extra: list[str] = []
    if config is not None:
        (tmp_path / "podtap.json").write_text(json.dumps(config))
        extra = ["-f", "podtap.json"]
    env = {**os.environ, "KUBECONFIG": str(kubeconfig or api.kubeconfig), "HOME": str(tmp_path)}
    argv = podtap_argv("policy", "explain", "-t", "deployment/api", "-n", "shop", *extra, *args)
    done = subprocess.run(argv, capture_output=True, text=True, env=env, cwd=tmp_path, timeout=60)
    assert "Traceback" not in done.stderr, done.stderr
    return done


def as_json(done: subprocess.CompletedProcess[str]) -> dict[str, Any]:
    assert done.returncode == 0, done.stderr
    found: dict[str, Any] = json.loads(done.stdout)
    return found


def test_an_unfiltered_steal_is_refused_by_steal_without_filter(
    api: Running, tmp_path: Path
) -> None:
    done = explain(api, tmp_path, config=STEAL)
    assert done.returncode == 0, done.stderr
    lines = done.stdout.splitlines()
    assert lines[0] == "target deployment/api"
    at = lines.index("policy shop/no-unfiltered-steal")
    assert lines[at + 1] == "  blocks steal-without-filter"
    (refused,) = [line for line in lines if line.startswith("refused: ")]
    assert refused.startswith("refused: subscribe: ") and UNFILTERED in refused
    assert "allowed" not in lines


def test_the_required_header_filter_and_a_filter_that_meets_it(
    api: Running, tmp_path: Path
) -> None:
    def steal(header: str) -> dict[str, Any]:
        incoming = {"mode": "steal", "http_filter": {"header_filter": header}}
        return {"feature": {"network": {"incoming": incoming}}}

    other = as_json(explain(api, tmp_path, "-o", "json", config=steal("x-other: 1")))
    assert [r for r in other["refusals"] if HEADER in r] == [
        f"subscribe: policy shop/steal-by-user {HEADER} "
        "(all_of: at least one item; any_of: every header item)"
    ]
    mine = as_json(explain(api, tmp_path, "-o", "json", config=steal("x-user: me")))
    assert mine["refusals"] == []
    assert explain(api, tmp_path, config=steal("x-user: me")).stdout.splitlines()[-1] == "allowed"


def test_an_excluded_env_var_and_the_policies_that_apply(api: Running, tmp_path: Path) -> None:
    got = as_json(explain(api, tmp_path, "-o", "json"))
    effects = {p["name"]: p["effects"] for p in got["policies"]}
    assert effects["cluster policy no-credentials"] == [
        "excludes env DATABASE_*, *_SECRET, AWS_SECRET_ACCESS_KEY"
    ]
    assert "fs notFound: ^/var/run/secrets/, ^/etc/shop/secrets/" in effects["policy shop/files"]
    assert "cluster policy staging-needs-a-profile" not in effects  # its selector: env=staging
    assert got["target"] == "deployment/api" and got["refusals"] == []


def test_a_profile_turns_the_steal_into_a_mirror(api: Running, tmp_path: Path) -> None:
    got = as_json(explain(api, tmp_path, "--profile", "mirror-only", "-o", "json", config=STEAL))
    assert got["profile"]["name"] == "profile mirror-only"
    assert "featureAdjustments: incoming-mirror" in got["profile"]["effects"]
    assert got["config"]["feature"]["network"]["incoming"]["mode"] == "mirror"
    assert got["refusals"] == []
    text = explain(api, tmp_path, "--profile", "mirror-only", config=STEAL).stdout.splitlines()
    assert "profile mirror-only" in text and text[-1] == "allowed"


def test_each_failure_is_one_line(api: Running, tmp_path: Path) -> None:
    def error(*args: str, config: Any = None, kubeconfig: Path | None = None) -> str:
        done = explain(api, tmp_path, *args, config=config, kubeconfig=kubeconfig)
        assert done.returncode == 1, done
        assert done.stdout == "" and done.stderr.count("\n") == 1, done.stderr
        return done.stderr.removeprefix("error: ").strip()

    wrong = error("-t", "deployment/nope")
    assert wrong == (
        "deployment 'nope' not found in namespace 'shop' (list targets with `podtap ls`)"
    )
    assert error("--profile", "nope").startswith("profile nope is not found: list them with ")
    assert error("--profile", "a/b/c").startswith("flag --profile: profile: give NAME (a ")
    (tmp_path / "bad.json").write_text("{not json")
    assert "bad.json" in error("-f", "bad.json")
    config = yaml.safe_load(api.kubeconfig.read_text())
    for cluster in config["clusters"]:
        cluster["cluster"]["server"] = "https://127.0.0.1:1"
    (tmp_path / "closed").write_text(yaml.safe_dump(config))
    closed = error(kubeconfig=tmp_path / "closed")
    assert closed.startswith("cannot reach the Kubernetes API server https://127.0.0.1:1: ")


def test_a_user_who_may_not_list_policies_is_told_what_to_ask_for(
    api: Running, tmp_path: Path
) -> None:
    eve = api.kubeconfig_for(user="eve")
    kubectl(api, "create", "role", "eve-reads", "-n", "shop", "--verb=get,list",
            "--resource=deployments")  # fmt: skip
    kubectl(api, "create", "rolebinding", "eve-reads", "-n", "shop", "--role=eve-reads",
            "--user=eve")  # fmt: skip
    try:
        done = explain(api, tmp_path, kubeconfig=eve)
    finally:
        kubectl(api, "delete", "rolebinding,role", "eve-reads", "-n", "shop")
    assert done.returncode == 1, done
    line = done.stderr.strip()
    assert line.startswith('error: podtappolicies.policies.podtap.dev is forbidden: User "eve"')
    assert line.endswith(
        ": ask your cluster admin for get and list on podtappolicies.policies.podtap.dev "
        "in namespace shop"
    )


def test_the_docs_example_is_what_it_prints(tmp_path: Path) -> None:
    """docs/policies.md's "See before you run" output, with the two examples it names."""
    doc = (ROOT / "docs" / "policies.md").read_text().split("## See before you run")[1]
    shown = doc.split("```text\n")[1].split("```")[0]
    examples = ROOT / "examples" / "policies"
    with in_thread() as api:
        crds = kinds(render({}), "CustomResourceDefinition")
        kubectl(api, "apply", "-f", "-", stdin=yaml.safe_dump_all(list(crds)))
        kubectl(api, "create", "namespace", "shop")
        kubectl(api, "apply", "-f", "-", stdin=API_DEPLOYMENT)
        for name in ("env-exclude.yaml", "steal-without-filter.yaml"):
            kubectl(api, "apply", "-f", str(examples / name))
        done = explain(api, tmp_path, config=STEAL)
    assert done.stdout == shown
