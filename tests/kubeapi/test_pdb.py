"""PodDisruptionBudgets (policy/v1): served as kube-apiserver serves them (kubectl by short
name, helm's capabilities render the operator chart's budget), their status as the
disruption controller computes it from the pods (pure)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from podtap.backends.local.disruption import budget_pods, disruption_status, expected_scale
from podtap.backends.local.kubeapi.app import Running
from tests.kubeapi.cli import run

CHART = Path(__file__).parents[2] / "charts" / "podtap-operator"
NOW = "2026-01-01T00:00:00Z"
PDB = """{"apiVersion": "policy/v1", "kind": "PodDisruptionBudget",
 "metadata": {"name": "web"}, "spec": {"maxUnavailable": 1,
 "selector": {"matchLabels": {"app": "web"}}}}"""


def _pod(
    name: str, *, ready: bool = True, owner: str | None = "ReplicaSet/web-1"
) -> dict[str, Any]:
    meta: dict[str, Any] = {"name": name, "namespace": "ns", "labels": {"app": "web"}}
    if owner is not None:
        kind, owner_name = owner.split("/")
        meta["ownerReferences"] = [{"kind": kind, "name": owner_name, "controller": True}]
    condition = {"type": "Ready", "status": "True" if ready else "False"}
    return {"metadata": meta, "status": {"conditions": [condition]}}


def _pdb(**spec: Any) -> dict[str, Any]:
    meta = {"name": "web", "namespace": "ns", "generation": 2}
    return {"metadata": meta, "spec": {"selector": {"matchLabels": {"app": "web"}}, **spec}}


def _scale(kind: str, namespace: str, name: str) -> int | None:
    return {"ReplicaSet/web-1": 3, "StatefulSet/db": 2}.get(f"{kind}/{name}")


def _status(pdb: dict[str, Any], pods: list[dict[str, Any]]) -> dict[str, Any]:
    return disruption_status(pdb, budget_pods(pdb, pods), scale=_scale, old={}, now=NOW)


def _counts(status: dict[str, Any]) -> tuple[int, int, int, int, str]:
    cond = status["conditions"][0]
    return (
        status["currentHealthy"],
        status["desiredHealthy"],
        status["expectedPods"],
        status["disruptionsAllowed"],
        f"{cond['status']}/{cond['reason']}",
    )


def test_status_as_the_disruption_controller_has_it() -> None:
    three = [_pod("a"), _pod("b"), _pod("c")]
    # maxUnavailable against the controller's replicas (3): 2 healthy wanted.
    assert _counts(_status(_pdb(maxUnavailable=1), three)) == (3, 2, 3, 1, "True/SufficientPods")
    one_down = [*three[:2], _pod("c", ready=False)]
    assert _counts(_status(_pdb(maxUnavailable=1), one_down)) == (
        2, 2, 3, 0, "False/InsufficientPods",
    )  # fmt: skip
    assert _counts(_status(_pdb(maxUnavailable="50%"), three)) == (
        3,
        1,
        3,
        2,
        "True/SufficientPods",
    )
    # minAvailable as a number: of the pods there are; as a percentage: of the replicas.
    assert _counts(_status(_pdb(minAvailable=1), three[:2])) == (2, 1, 2, 1, "True/SufficientPods")
    assert _counts(_status(_pdb(minAvailable="50%"), three)) == (3, 2, 3, 1, "True/SufficientPods")
    # A pod with no controller: the scale cannot be known, nothing may be disrupted.
    bare = [_pod("a", owner=None)]
    assert _counts(_status(_pdb(maxUnavailable=1), bare)) == (1, 0, 0, 0, "False/SyncFailed")
    assert _counts(_status(_pdb(minAvailable=0), [])) == (0, 0, 0, 0, "False/InsufficientPods")
    status = _status(_pdb(maxUnavailable=1), three)
    assert status["observedGeneration"] == 2
    assert status["conditions"][0]["lastTransitionTime"] == NOW


def test_which_pods_a_budget_covers() -> None:
    going = _pod("gone")
    going["metadata"]["deletionTimestamp"] = NOW
    other = _pod("other")
    other["metadata"]["labels"] = {"app": "db"}
    pods = [_pod("a"), going, other]
    assert [p["metadata"]["name"] for p in budget_pods(_pdb(), pods)] == ["a"]
    everything = {"metadata": {"name": "all"}, "spec": {"selector": {}}}
    assert len(budget_pods(everything, pods)) == 2  # all but the one being deleted
    assert budget_pods({"metadata": {"name": "none"}, "spec": {}}, pods) == []
    two_sets = [_pod("a"), _pod("b"), _pod("d", owner="StatefulSet/db")]
    assert expected_scale(two_sets, namespace="ns", scale=_scale) == 5  # each counted once


def test_kubectl_and_helm_see_poddisruptionbudgets(
    api: Running, kubectl_bin: Path, helm_bin: Path
) -> None:
    run(kubectl_bin, api, "create", "namespace", "budgets")
    try:
        resources = run(kubectl_bin, api, "api-resources", "--api-group=policy").stdout
        assert resources.split()[5:] == ["poddisruptionbudgets", "pdb", "policy/v1", "true",
                                          "PodDisruptionBudget"], resources  # fmt: skip
        run(kubectl_bin, api, "apply", "-n", "budgets", "-f", "-", stdin=PDB)
        got = json.loads(
            run(kubectl_bin, api, "get", "pdb", "web", "-n", "budgets", "-o", "json").stdout
        )
        assert got["spec"]["maxUnavailable"] == 1
        listed = run(kubectl_bin, api, "get", "pdb", "-n", "budgets").stdout
        assert listed.splitlines()[1].startswith("web "), listed
        rendered = run(
            helm_bin, api, "install", "op", str(CHART), "-n", "budgets", "--dry-run=server",
            "--set", "replicas=2",
        ).stdout  # fmt: skip
        assert "kind: PodDisruptionBudget" in rendered
        run(kubectl_bin, api, "delete", "pdb", "web", "-n", "budgets")
        gone = run(kubectl_bin, api, "get", "pdb", "-n", "budgets", ok=False)
        assert "No resources found" in gone.stderr
    finally:
        run(kubectl_bin, api, "delete", "namespace", "budgets", "--wait=false")
