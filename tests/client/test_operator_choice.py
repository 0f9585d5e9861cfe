"""Which operator a command uses: --operator, else a kubeconfig whose cluster serves
operator.podtap.dev/v1, else the embedded cluster's, through its API server; and the
`podtap` commands that say so with -v, or say in one line why they cannot."""

from __future__ import annotations

import asyncio
import os
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import yaml

from podtap.client.host.kube_address import KubeAddress, KubeconfigError
from podtap.client.host.kube_refusals import NOT_INSTALLED
from podtap.client.host.operator_api import OperatorAddress, OperatorRefused, OperatorUnavailable
from podtap.client.host.operator_choice import (
    Given,
    Kube,
    Local,
    LocalCluster,
    Sources,
    candidates,
    choose,
)
from podtap.testing.localcluster import podtap_argv
from tests.client.aggregated import Aggregated, aggregated, operator_running
from tests.kubeapi.server import in_thread, tools


@pytest.fixture(scope="module")
def agg(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Aggregated]:
    with aggregated(tools() / "kubectl", tmp_path_factory.mktemp("aggregated")) as running:
        yield running


def test_the_order_of_the_candidates() -> None:
    assert candidates(Sources(operator="unix:/x", kubeconfig="k", local_name="n")) == (
        Given("unix:/x"),
    )
    assert candidates(Sources(local_name="dev", env_kubeconfig="k")) == (Local("dev"),)
    explicit = Kube(files="k", context=None, explicit=True)
    assert candidates(Sources(kubeconfig="k", env_kubeconfig="e")) == (explicit,)
    assert candidates(Sources(context="c", env_kubeconfig="e")) == (
        Kube(files="e", context="c", explicit=True),
    )
    found = Kube(files="e", context=None, explicit=False)
    assert candidates(Sources(env_kubeconfig="e", home_kubeconfig=True)) == (found, Local(None))
    assert candidates(Sources(home_kubeconfig=True)) == (
        Kube(files=None, context=None, explicit=False),
        Local(None),
    )
    assert candidates(Sources()) == (Local(None),)


def _local_at(kubeconfig: Path | None) -> LocalCluster:
    return LocalCluster(name="default", kubeconfig=kubeconfig)


def test_a_found_kubeconfig_without_operator_leaves_it_to_the_local_cluster(
    agg: Aggregated, tmp_path: Path
) -> None:
    async def go(sources: Sources, local: Path | None) -> OperatorAddress:
        async with operator_running(agg, tmp_path / "state"):
            return await choose(sources, local=lambda _: _local_at(local))

    with in_thread() as bare:
        found = Sources(env_kubeconfig=str(bare.kubeconfig))
        with pytest.raises(OperatorRefused, match="no podtap operator is installed"):
            asyncio.run(go(found, None))  # no local cluster either: the kubeconfig's answer
        chosen = asyncio.run(go(found, agg.api.kubeconfig))
        assert isinstance(chosen, KubeAddress) and chosen.value == agg.api.url

        named = Sources(kubeconfig=str(bare.kubeconfig))
        with pytest.raises(OperatorRefused) as caught:  # named: its answer is final
            asyncio.run(go(named, agg.api.kubeconfig))
        assert str(caught.value) == f"{NOT_INSTALLED} [{bare.url}]"


def test_no_kubeconfig_and_no_local_cluster_or_one_without_operator_is_one_line(
    tmp_path: Path,
) -> None:
    with pytest.raises(OperatorUnavailable) as caught:
        asyncio.run(choose(Sources(), local=lambda _: _local_at(None)))
    assert str(caught.value) == (
        "no operator to use: no kubeconfig names a cluster with podtap installed, and the "
        "local cluster 'default' does not run here: start it with `podtap local up`, or "
        "give --kubeconfig / --context"
    )
    # a local cluster up with --no-operator-chart
    with in_thread() as bare, pytest.raises(OperatorRefused) as refused:
        asyncio.run(choose(Sources(), local=lambda _: _local_at(bare.kubeconfig)))
    assert str(refused.value) == (
        "the local cluster 'default' has no podtap operator (it was started with "
        "--no-operator-chart): install it with `podtap local up`"
    )


def test_a_found_kubeconfig_whose_server_never_answers_is_given_up_on(
    agg: Aggregated, tmp_path: Path
) -> None:
    config = yaml.safe_load(agg.api.kubeconfig.read_text())
    with socket.create_server(("127.0.0.1", 0)) as silent:  # accepts, never says a word
        config["clusters"][0]["cluster"]["server"] = f"https://127.0.0.1:{silent.getsockname()[1]}"
        path = tmp_path / "kubeconfig"
        path.write_text(yaml.safe_dump(config))

        async def go() -> OperatorAddress:
            found = Sources(env_kubeconfig=str(path))
            async with operator_running(agg, tmp_path / "state"):
                return await choose(
                    found, local=lambda _: _local_at(agg.api.kubeconfig), probe_timeout=0.5
                )

        started = time.monotonic()
        chosen = asyncio.run(go())
        assert isinstance(chosen, KubeAddress) and chosen.value == agg.api.url
        assert time.monotonic() - started < 8


def test_a_kubeconfig_whose_cluster_serves_the_operator_is_used(
    agg: Aggregated, tmp_path: Path
) -> None:
    async def go() -> OperatorAddress:
        async with operator_running(agg, tmp_path / "state"):
            found = Sources(env_kubeconfig=str(agg.api.kubeconfig))
            return await choose(found, local=lambda _: _local_at(None))

    chosen = asyncio.run(go())
    assert isinstance(chosen, KubeAddress) and chosen.value == agg.api.url


def test_a_context_that_is_not_there_is_one_line(agg: Aggregated) -> None:
    sources = Sources(kubeconfig=str(agg.api.kubeconfig), context="nope")
    with pytest.raises(KubeconfigError) as caught:
        asyncio.run(choose(sources, local=lambda _: _local_at(None)))
    assert str(caught.value).startswith(f"kubeconfig {agg.api.kubeconfig} (context 'nope'): ")
    assert "nope" in str(caught.value).split(": ", 1)[1]


def _two_contexts(agg: Aggregated, tmp: Path) -> tuple[Path, str]:
    """A kubeconfig whose current context is alice's (no RBAC at all), and the name of
    its other context, the admin's."""
    admin = yaml.safe_load(agg.api.kubeconfig.read_text())
    alice = yaml.safe_load(agg.api.kubeconfig_for(user="alice").read_text())
    for part in ("users", "contexts"):
        alice[part] += [i for i in admin[part] if i["name"] not in {a["name"] for a in alice[part]}]
    path = tmp / "two"
    path.write_text(yaml.safe_dump(alice))
    return path, str(admin["current-context"])


async def _podtap(*args: str, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    proc = await asyncio.create_subprocess_exec(
        *podtap_argv(*args), stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=env
    )
    out, err = await asyncio.wait_for(proc.communicate(), 60)
    assert proc.returncode is not None
    return subprocess.CompletedProcess(args, proc.returncode, out.decode(), err.decode())


def test_the_commands_go_through_the_kubeconfig_and_its_context(
    agg: Aggregated, tmp_path: Path
) -> None:
    config, admin = _two_contexts(agg, tmp_path)
    env = {**os.environ, "HOME": str(tmp_path), "KUBECONFIG": str(config)}
    env.pop("PODTAP_OPERATOR", None)
    env.pop("PODTAP_KUBE_CONTEXT", None)

    async def go() -> list[subprocess.CompletedProcess[str]]:
        async with operator_running(agg, tmp_path / "state"):
            return [
                await _podtap("ls", env=env),
                await _podtap("operator", "status", "--context", admin, "-v", env=env),
                await _podtap("ls", env={**env, "PODTAP_KUBE_CONTEXT": admin}),
            ]

    denied, status, listed = asyncio.run(go())
    assert denied.returncode == 1 and "Traceback" not in denied.stderr
    assert denied.stderr.startswith("error: targets.operator.podtap.dev is forbidden: ")
    assert "ask a cluster admin for operator.podtap.dev targets list" in denied.stderr
    assert status.returncode == 0, status.stderr
    assert status.stdout.startswith("podtap operator ") and "0 session(s)" in status.stdout
    assert (
        f"podtap: operator: through kubeconfig {config} (context '{admin}') at {agg.api.url}"
        in status.stderr
    )
    assert listed.returncode == 0 and "deployment/web" in listed.stdout


@pytest.mark.parametrize(
    ("text", "says"),
    [
        (None, "no such file"),
        ("clusters: [\n", "(the current context): while parsing a flow node expected"),
    ],
)
def test_a_kubeconfig_that_cannot_be_read_is_one_line(
    tmp_path: Path, text: str | None, says: str
) -> None:
    path = tmp_path / "kubeconfig"
    if text is not None:
        path.write_text(text)
    env = {**os.environ, "HOME": str(tmp_path)}
    env.pop("PODTAP_OPERATOR", None)
    done = subprocess.run(
        podtap_argv("operator", "status", "--kubeconfig", str(path)),
        capture_output=True,
        text=True,
        env=env,
        timeout=60,
    )
    assert done.returncode == 1 and done.stdout == ""
    assert done.stderr.startswith(f"error: kubeconfig {path}") and says in done.stderr
    assert len(done.stderr.splitlines()) == 1, done.stderr


def test_the_cli_loads_the_kubeconfig_machinery_only_when_it_chooses() -> None:
    code = (
        "import sys, podtap.cli.main; "
        "print(sorted(m for m in ('kubernetes_asyncio', "
        "'podtap.client.host.operator_choice') if m in sys.modules))"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert "kubernetes_asyncio" not in done.stdout and "operator_choice" not in done.stdout
