"""Objects as the API server returns them: the kind gives the scope, bad specs name the object."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from podtap.core.policy.matching import applicable
from podtap.core.policy.models import PolicyError
from podtap.core.policy.objects import (
    policy_from_object,
    profile_from_object,
    select_profile,
    session_target,
)
from podtap.core.targets import TargetRef

EXAMPLES = Path(__file__).parents[3] / "examples" / "policies"


def _load(name: str) -> dict[str, object]:
    doc = yaml.safe_load((EXAMPLES / name).read_text())
    assert isinstance(doc, dict)
    return doc


def test_mirrords_cluster_policy_with_a_namespace_is_still_cluster_wide() -> None:
    found = policy_from_object(_load("mirrord-block-steal-without-filter.yaml"))
    assert (found.namespace, found.kind, found.label) == (
        None,
        "MirrordClusterPolicy",
        "cluster policy block-steal-without-filter",
    )
    elsewhere = session_target(TargetRef.parse("deploy/web"), namespace="billing")
    assert applicable([found], target=elsewhere) == [found]


def test_a_namespaced_policy_keeps_its_namespace() -> None:
    found = policy_from_object(_load("steal-without-filter.yaml"))
    assert found.label == "policy shop/no-unfiltered-steal"


def test_bad_objects_are_one_line_naming_them() -> None:
    with pytest.raises(
        PolicyError, match=r"^policy shop/x: spec\.block: Input should be a valid list$"
    ):
        policy_from_object(
            {
                "kind": "PodtapPolicy",
                "metadata": {"name": "x", "namespace": "shop"},
                "spec": {"block": "steal"},
            }
        )
    with pytest.raises(PolicyError, match=r"PodtapPolicy x has no metadata\.namespace"):
        policy_from_object({"kind": "PodtapPolicy", "metadata": {"name": "x"}, "spec": {}})
    with pytest.raises(PolicyError, match=r"^Pod is not one of PodtapPolicy, "):
        policy_from_object({"kind": "Pod", "metadata": {"name": "x"}})


def test_profiles_are_selected_by_name_or_namespace_and_name() -> None:
    cluster = profile_from_object(_load("profile-mirror-only.yaml"))
    spaced = profile_from_object(_load("profile-readonly.yaml"))
    mirrord = profile_from_object(_load("mirrord-profile.yaml"))
    found = [cluster, spaced, mirrord]
    assert select_profile(found, "mirror-only") is cluster
    assert select_profile(found, "shop/readonly") is spaced
    assert select_profile(found, "shop/mirror-only") is mirrord
    assert select_profile(found, "readonly") is None


def test_session_targets() -> None:
    target = session_target(
        TargetRef.parse("pod/api-1/container/app"), namespace="shop", labels={"a": "b"}
    )
    assert target.paths() == ("pod/api-1/container/app",)
    assert session_target(TargetRef.parse("deploy/api"), namespace="shop").paths() == (
        "deployment/api",
        "deploy/api",
    )
    assert session_target(None, namespace="shop").path == "targetless"
    assert session_target(TargetRef.parse("targetless"), namespace="shop").kind is None
