"""A StatefulSet's rollout as the statefulset controller decides it (pure): defaults,
ControllerRevisions, the order pods are made, replaced and removed in, and the status."""

from __future__ import annotations

import copy
from typing import Any

from podtap.backends.local import statefulsets as sts_
from podtap.backends.local.statefulsets import Member, Policy, Revision, Revisions

OLD, NEW = "web-old", "web-new"
BOTH = Revisions(current=OLD, update=NEW, collisions=0)


def _sts(*, env: str = "one", **spec: Any) -> dict[str, Any]:
    template = {
        "metadata": {"labels": {"app": "web"}},
        "spec": {
            "containers": [
                {"name": "web", "image": "busybox", "env": [{"name": "V", "value": env}]}
            ]
        },
    }
    obj = {
        "apiVersion": "apps/v1",
        "kind": "StatefulSet",
        "metadata": {"name": "web", "namespace": "default", "uid": "u-1", "generation": 2},
        "spec": {"replicas": 3, "selector": {"matchLabels": {"app": "web"}}, "template": template}
        | spec,
    }
    sts_.default("StatefulSet", obj)
    return obj


def _pods(*revisions: str, ready: bool = True) -> list[Member]:
    return [Member(f"web-{i}", i, rev, ready=ready) for i, rev in enumerate(revisions)]


def test_defaults_are_kube_apiservers() -> None:
    spec = _sts()["spec"]
    assert spec["updateStrategy"] == {
        "type": "RollingUpdate",
        "rollingUpdate": {"partition": 0, "maxUnavailable": 1},
    }
    assert spec["podManagementPolicy"] == "OrderedReady"
    assert spec["revisionHistoryLimit"] == 10
    assert spec["persistentVolumeClaimRetentionPolicy"] == {
        "whenDeleted": "Retain",
        "whenScaled": "Retain",
    }
    on_delete = _sts(updateStrategy={"type": "OnDelete"})["spec"]["updateStrategy"]
    assert on_delete == {"type": "OnDelete"}
    given = _sts(updateStrategy={"rollingUpdate": {"partition": 2}}, replicas=5)["spec"]
    assert given["updateStrategy"]["rollingUpdate"]["partition"] == 2 and given["replicas"] == 5
    other = {"kind": "Deployment", "spec": {}}
    sts_.default("Deployment", other)
    assert other == {"kind": "Deployment", "spec": {}}


def test_fnv1_hash_as_go_hash_fnv() -> None:
    assert sts_._fnv32(b"") == 0x811C9DC5
    assert sts_._fnv32(b"a") == 0x050C5D7E


def test_first_revision_is_made_with_the_template_as_a_replace_patch() -> None:
    sts = _sts()
    out = sts_.resolve(sts, [])
    assert out.create is not None and out.renumber is None
    assert out.current == out.update == out.create["metadata"]["name"]
    assert out.update.startswith("web-")
    cr = out.create
    assert cr["revision"] == 1 and cr["metadata"]["ownerReferences"][0]["uid"] == "u-1"
    assert cr["data"]["spec"]["template"]["$patch"] == "replace"
    assert sts_.template_of(cr["data"]) == sts["spec"]["template"]
    assert cr["metadata"]["labels"] == {
        "app": "web",
        sts_.HASH_LABEL: out.update.removeprefix("web-"),
    }
    # the name is stable for the same template, and differs for another one
    assert sts_.resolve(copy.deepcopy(sts), []).update == out.update
    assert sts_.resolve(_sts(env="two"), []).update != out.update


def test_a_changed_template_is_a_new_revision_and_undo_brings_the_old_back() -> None:
    one, two = _sts(env="one"), _sts(env="two")
    first = sts_.resolve(one, [])
    assert first.create is not None
    revs = [sts_.revision_view(first.create)]
    one["status"] = {"currentRevision": first.update}
    second = sts_.resolve(two | {"status": one["status"]}, revs)
    assert second.create is not None and second.create["revision"] == 2
    assert (second.current, second.update) == (first.update, second.create["metadata"]["name"])
    revs.append(sts_.revision_view(second.create))
    back = sts_.resolve(one, revs)
    assert back.create is None and back.update == first.update
    assert back.renumber == (first.update, 3)


def test_a_hash_collision_counts_up() -> None:
    sts = _sts()
    name = sts_.resolve(sts, []).update
    taken = [Revision(name, 1, "another-template")]
    out = sts_.resolve(sts, taken)
    assert out.collisions == 1 and out.update != name and out.create is not None


def test_pods_carry_the_revision_and_index_labels() -> None:
    sts = _sts(serviceName="web")
    pod = sts_.pod_body(sts, ordinal=2, revision=NEW, template=sts["spec"]["template"], node="n")
    assert pod["metadata"]["name"] == "web-2"
    assert pod["metadata"]["labels"] == {
        "app": "web",
        sts_.POD_NAME_LABEL: "web-2",
        sts_.INDEX_LABEL: "2",
        sts_.REVISION_LABEL: NEW,
    }
    assert pod["spec"]["hostname"] == "web-2" and pod["spec"]["subdomain"] == "web"
    assert pod["metadata"]["ownerReferences"][0]["kind"] == "StatefulSet"


def test_ordered_ready_scale_up_waits_for_each_pod() -> None:
    policy, same = Policy(replicas=3), Revisions(NEW, NEW, 0)
    assert sts_.decide(policy, revisions=same, pods=[]).create == [(0, NEW)]
    unready = _pods(NEW, ready=False)
    assert sts_.decide(policy, revisions=same, pods=unready) == sts_.Step()
    assert sts_.decide(policy, revisions=same, pods=_pods(NEW)).create == [(1, NEW)]
    assert sts_.decide(policy, revisions=same, pods=_pods(NEW, NEW, NEW)) == sts_.Step()


def test_parallel_makes_and_removes_all_at_once() -> None:
    policy, same = Policy(replicas=3, ordered=False), Revisions(NEW, NEW, 0)
    assert sts_.decide(policy, revisions=same, pods=[]).create == [(0, NEW), (1, NEW), (2, NEW)]
    down = sts_.decide(Policy(replicas=1, ordered=False), revisions=same, pods=_pods(NEW, NEW, NEW))
    assert down.delete == ["web-2", "web-1"]


def test_ordered_scale_down_removes_the_highest_first() -> None:
    step = sts_.decide(Policy(replicas=1), revisions=BOTH, pods=_pods(NEW, NEW, NEW))
    assert step == sts_.Step(delete=["web-2"])
    # ... and waits while a pod it keeps is not ready
    pods = [Member("web-0", 0, NEW, ready=False), *_pods(NEW, NEW)[1:]]
    assert sts_.decide(Policy(replicas=1), revisions=BOTH, pods=pods) == sts_.Step()


def test_rolling_update_replaces_one_pod_from_the_highest_ordinal_down() -> None:
    policy = Policy(replicas=3)
    assert sts_.decide(policy, revisions=BOTH, pods=_pods(OLD, OLD, OLD)).delete == ["web-2"]
    # the deleted pod is made again at the update revision
    pods = _pods(OLD, OLD)
    assert sts_.decide(policy, revisions=BOTH, pods=pods).create == [(2, NEW)]
    # not before the replacement is ready
    waiting = [*_pods(OLD, OLD), Member("web-2", 2, NEW)]
    assert sts_.decide(policy, revisions=BOTH, pods=waiting) == sts_.Step()
    assert sts_.decide(policy, revisions=BOTH, pods=_pods(OLD, OLD, NEW)).delete == ["web-1"]
    assert sts_.decide(policy, revisions=BOTH, pods=_pods(OLD, NEW, NEW)).delete == ["web-0"]
    assert sts_.decide(policy, revisions=BOTH, pods=_pods(NEW, NEW, NEW)) == sts_.Step()


def test_partition_keeps_the_ordinals_below_it() -> None:
    policy = Policy(replicas=3, partition=2)
    assert sts_.decide(policy, revisions=BOTH, pods=_pods(OLD, OLD, NEW)) == sts_.Step()
    # a pod below the partition deleted is made again at the current revision
    assert sts_.decide(policy, revisions=BOTH, pods=[]).create == [(0, OLD)]


def test_on_delete_replaces_only_deleted_pods() -> None:
    policy = Policy(replicas=2, rolling=False)
    assert sts_.decide(policy, revisions=BOTH, pods=_pods(OLD, OLD)) == sts_.Step()
    assert sts_.decide(policy, revisions=BOTH, pods=_pods(OLD)).create == [(1, NEW)]


def test_a_finished_pod_is_deleted_to_be_made_again() -> None:
    pods = [Member("web-0", 0, NEW, finished=True)]
    step = sts_.decide(Policy(replicas=1), revisions=Revisions(NEW, NEW, 0), pods=pods)
    assert step.delete == ["web-0"]


def test_status_counts_revisions_and_completes_the_rollout() -> None:
    sts = _sts()
    mid = sts_.status(sts, revisions=BOTH, pods=_pods(OLD, NEW, NEW))
    assert mid == {
        "observedGeneration": 2,
        "replicas": 3,
        "readyReplicas": 3,
        "currentReplicas": 1,
        "updatedReplicas": 2,
        "currentRevision": OLD,
        "updateRevision": NEW,
        "collisionCount": 0,
        "availableReplicas": 3,
    }
    done = sts_.status(sts, revisions=BOTH, pods=_pods(NEW, NEW, NEW))
    assert (done["currentRevision"], done["currentReplicas"]) == (NEW, 3)
    unready = sts_.status(sts, revisions=BOTH, pods=_pods(NEW, NEW, NEW, ready=False))
    assert unready["currentRevision"] == OLD and "readyReplicas" not in unready


def test_history_beyond_the_limit_is_trimmed_oldest_first() -> None:
    revs = [Revision(f"web-{n}", n, str(n)) for n in range(1, 6)]
    assert sts_.expired(revs, live={"web-5"}, limit=2) == ["web-1", "web-2"]
    assert sts_.expired(revs, live={"web-1", "web-5"}, limit=2) == ["web-2"]
    assert sts_.expired(revs, live=set(), limit=None) == []


def test_min_ready_seconds_makes_ready_pods_wait_to_be_available() -> None:
    policy, same = Policy(replicas=2, min_ready=5), Revisions(NEW, NEW, 0)
    fresh = [Member("web-0", 0, NEW, ready=True, ready_for=1)]
    assert sts_.decide(policy, revisions=same, pods=fresh) == sts_.Step()
    settled = [Member("web-0", 0, NEW, ready=True, ready_for=6)]
    assert sts_.decide(policy, revisions=same, pods=settled).create == [(1, NEW)]
    sts = _sts(minReadySeconds=5)
    status = sts_.status(sts, revisions=same, pods=[*fresh, Member("web-1", 1, NEW, ready=True)])
    assert (status["readyReplicas"], status["availableReplicas"]) == (2, 1)
    assert sts_.policy_of(sts).min_ready == 5
