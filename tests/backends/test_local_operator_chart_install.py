"""What `podtap local up` runs to install the operator chart, and its refusals in one line
when the chart or helm is not there (no cluster needed)."""

from __future__ import annotations

from pathlib import Path

import pytest

from podtap.backends.local import operator_chart
from podtap.backends.local.operator_chart import OperatorChartFailed


def test_the_repository_chart_is_found_next_to_the_package() -> None:
    chart = operator_chart.chart_dir()
    assert (chart / "Chart.yaml").read_text().count("name: podtap-operator") == 1
    assert chart == Path(__file__).resolve().parents[2] / "charts" / "podtap-operator"


def test_helm_argv_upgrades_or_installs_the_release_and_waits() -> None:
    argv = operator_chart.helm_argv(
        helm=Path("/t/helm"), chart=Path("/c"), kubeconfig=Path("/k"), timeout=120
    )
    assert argv == [
        "/t/helm", "upgrade", "--install", "podtap", "/c", "--namespace", "podtap",
        "--create-namespace", "--kubeconfig", "/k", "--wait", "--timeout", "120s",
        "--set-string", "fullnameOverride=podtap-operator",
    ]  # fmt: skip


def test_helm_missing_says_how_to_get_it(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PODTAP_TOOLS", str(tmp_path))
    monkeypatch.setenv("PATH", str(tmp_path / "bin"))
    with pytest.raises(OperatorChartFailed) as caught:
        operator_chart.helm_binary()
    assert str(caught.value) == (
        f"helm is not in {tmp_path} nor on PATH: get it with `scripts/install-kube-tools "
        f"{tmp_path}` (or install helm 3.8+), or pass --no-operator-chart"
    )


def test_helm_of_the_tool_cache_comes_first(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    (tmp_path / "helm").write_text("")
    monkeypatch.setenv("PODTAP_TOOLS", str(tmp_path))
    assert operator_chart.helm_binary() == tmp_path / "helm"
