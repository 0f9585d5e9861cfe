"""The live policy and profile cache against the API server in-process, with the chart's CRDs
(rendered by the real helm) applied by the real kubectl: objects created, changed and
deleted show in the snapshot and fire the change signal within a second; a bad object is
logged once and skipped; mirrord's CRDs installed after the cache started are picked up,
and deleting them drops their objects. With fewer rights (RBAC): no right to watch CRDs
watches the kinds served at start; no right to a kind says it is not enforced; credentials
the server refuses fail every wait in one line."""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml

from podtap.backends.kubernetes import KubernetesBackend
from podtap.backends.kubernetes.policy_book import PolicySnapshot
from podtap.backends.kubernetes.policy_watch import WANTED, PolicyWatch, PolicyWatchFailed
from podtap.backends.local.kubeapi.app import Running
from podtap.core.policy.models import Blocked
from podtap.testing.wait import async_wait_until
from tests.chart.render import kinds, render
from tests.kubeapi.cli import run as kubectl_run
from tests.kubeapi.server import in_thread, tools

Obj = dict[str, Any]
Body = Callable[[KubernetesBackend, PolicyWatch], Awaitable[None]]
PODTAP_CRDS = {n for n, k in WANTED.items() if not k.mirrord}


def _crds(names: set[str]) -> str:
    found = [o for o in kinds(render({}), "CustomResourceDefinition")]
    return yaml.safe_dump_all([o for o in found if o["metadata"]["name"] in names])


def kubectl(api: Running, *args: str, stdin: str = "") -> None:
    kubectl_run(tools() / "kubectl", api, *args, stdin=stdin)


@pytest.fixture(scope="module")
def api() -> Iterator[Running]:
    with in_thread() as running:
        kubectl(running, "apply", "-f", "-", stdin=_crds(PODTAP_CRDS))
        kubectl(running, "create", "namespace", "shop")
        yield running


def policy(name: str, *, block: list[str], kind: str = "PodtapPolicy", **spec: Any) -> Obj:
    group = "policies.mirrord.metalbear.co/v1alpha" if "Mirrord" in kind else None
    return {
        "apiVersion": group or "policies.podtap.dev/v1alpha1",
        "kind": kind,
        "metadata": {"name": name, "namespace": "shop"},
        "spec": {"block": block, **spec},
    }


def run(api: Running, body: Body) -> None:
    async def go() -> None:
        backend = await KubernetesBackend.from_kubeconfig(path=api.kubeconfig)
        async with backend, PolicyWatch.for_backend(backend) as cache:
            await asyncio.wait_for(cache.synced(), 10)
            await body(backend, cache)

    asyncio.run(go())


async def signalled(cache: PolicyWatch, since: int, write: Awaitable[object]) -> PolicySnapshot:
    """Do `write`; the snapshot the change signal gives, which must come within a second."""
    await write
    started = time.monotonic()
    got = await asyncio.wait_for(cache.changed(since=since), 1.0)
    assert time.monotonic() - started < 1.0
    return got


def names(snap: PolicySnapshot) -> list[str]:
    return [p.label for p in snap.policies]


def test_create_change_delete_show_in_the_snapshot_within_a_second(api: Running) -> None:
    async def body(backend: KubernetesBackend, cache: PolicyWatch) -> None:
        assert cache.watched == sorted(WANTED[n].kind for n in PODTAP_CRDS)
        start = cache.snapshot()
        assert start.policies == () and start.profiles == ()
        try:
            snap = await signalled(
                cache, start.version, backend.put_resource(policy("p", block=["steal"]))
            )
            assert names(snap) == ["policy shop/p"]
            assert snap.policies[0].spec.block == [Blocked.STEAL]
            changed = policy("p", block=["mirror"])
            snap = await signalled(cache, snap.version, backend.put_resource(changed))
            assert snap.policies[0].spec.block == [Blocked.MIRROR]
            delete = backend.delete_resource("PodtapPolicy", namespace="shop", name="p")
            snap = await signalled(cache, snap.version, delete)
            assert snap.policies == ()
        finally:
            await backend.delete_resource("PodtapPolicy", namespace="shop", name="p")

    run(api, body)


def test_profiles_and_cluster_policies_are_the_cores_inputs(api: Running) -> None:
    profile = {
        "apiVersion": "profiles.podtap.dev/v1alpha1",
        "kind": "PodtapClusterProfile",
        "metadata": {"name": "mirror-only"},
        "spec": {"featureAdjustments": [{"change": "incoming-mirror"}]},
    }
    cluster = {**policy("all", block=["steal"], kind="PodtapClusterPolicy")}
    cluster["metadata"] = {"name": "all"}

    async def body(backend: KubernetesBackend, cache: PolicyWatch) -> None:
        try:
            snap = await signalled(cache, cache.snapshot().version, backend.put_resource(profile))
            assert [p.ref for p in snap.profiles] == ["mirror-only"]
            snap = await signalled(cache, snap.version, backend.put_resource(cluster))
            assert names(snap) == ["cluster policy all"]
        finally:
            await backend.delete_resource("PodtapClusterProfile", namespace="", name="mirror-only")
            await backend.delete_resource("PodtapClusterPolicy", namespace="", name="all")

    run(api, body)


def test_a_bad_object_is_logged_once_and_skipped_until_a_good_version(
    api: Running, caplog: pytest.LogCaptureFixture
) -> None:
    bad = policy("bad", block=["steal"], fs={"notFound": ["("]})  # the schema takes it

    async def body(backend: KubernetesBackend, cache: PolicyWatch) -> None:
        try:
            with caplog.at_level(logging.WARNING, logger="podtap.backends.kubernetes"):
                snap = await signalled(cache, cache.snapshot().version, backend.put_resource(bad))
                assert snap.policies == ()
                (line,) = snap.problems
                assert line.startswith("policy shop/bad: spec.fs.notFound: invalid regex '('")
                good = policy("bad", block=["steal"])
                snap = await signalled(cache, snap.version, backend.put_resource(good))
            assert names(snap) == ["policy shop/bad"] and snap.problems == ()
            logged = [r.getMessage() for r in caplog.records if "shop/bad" in r.getMessage()]
            assert logged == [line]
            again = policy("bad", block=["mirror"], fs={"notFound": ["("]})
            snap = await signalled(cache, snap.version, backend.put_resource(again))
            assert snap.policies[0].spec.block == [Blocked.STEAL]  # the last good one holds
            assert "its last good version stays in force" in snap.problems[0]
        finally:
            await backend.delete_resource("PodtapPolicy", namespace="shop", name="bad")

    run(api, body)


def test_mirrords_crds_installed_after_start_are_watched_and_dropped_with_their_crds(
    api: Running,
) -> None:
    mirrord = {n for n, k in WANTED.items() if k.mirrord}
    theirs = policy("m", block=["steal-without-filter"], kind="MirrordPolicy")

    async def body(backend: KubernetesBackend, cache: PolicyWatch) -> None:
        assert not any("Mirrord" in k for k in cache.watched)
        since = cache.snapshot().version
        try:
            await asyncio.to_thread(kubectl, api, "apply", "-f", "-", stdin=_crds(mirrord))
            await asyncio.wait_for(cache.synced(), 5)
            assert sum("Mirrord" in k for k in cache.watched) == 4
            snap = await signalled(cache, since, backend.put_resource(theirs))
            assert names(snap) == ["policy shop/m"] and snap.policies[0].kind == "MirrordPolicy"
        finally:
            delete = ["delete", "crd", *sorted(mirrord), "--ignore-not-found"]
            await asyncio.to_thread(kubectl, api, *delete)
        await async_wait_until(
            lambda: not any("Mirrord" in k for k in cache.watched), what="mirrord kinds unwatched"
        )
        assert cache.snapshot().policies == ()

    run(api, body)


READER = """\
apiVersion: rbac.authorization.k8s.io/v1
kind: ClusterRole
metadata: {name: policy-reader}
rules:
- apiGroups: [policies.podtap.dev, profiles.podtap.dev, policies.mirrord.metalbear.co,
              profiles.mirrord.metalbear.co]
  resources: ["*"]
  verbs: [get, list, watch]
---
apiVersion: rbac.authorization.k8s.io/v1
kind: ClusterRoleBinding
metadata: {name: policy-reader}
roleRef: {apiGroup: rbac.authorization.k8s.io, kind: ClusterRole, name: policy-reader}
subjects: [{kind: User, name: reader, apiGroup: rbac.authorization.k8s.io}]
"""


def run_as(api: Running, user: str, body: Body) -> None:
    async def go() -> None:
        admin = await KubernetesBackend.from_kubeconfig(path=api.kubeconfig)
        limited = await KubernetesBackend.from_kubeconfig(path=api.kubeconfig_for(user=user))
        async with admin, limited, PolicyWatch.for_backend(limited) as cache:
            await asyncio.wait_for(cache.synced(), 10)
            await body(admin, cache)

    asyncio.run(go())


def test_without_the_right_to_watch_crds_the_kinds_served_at_start_are_watched(
    api: Running, caplog: pytest.LogCaptureFixture
) -> None:
    async def body(admin: KubernetesBackend, cache: PolicyWatch) -> None:
        assert cache.watched == sorted(WANTED[n].kind for n in PODTAP_CRDS)  # mirrord's: 404
        try:
            since = cache.snapshot().version
            snap = await signalled(cache, since, admin.put_resource(policy("r", block=["mirror"])))
            assert names(snap) == ["policy shop/r"]
        finally:
            await admin.delete_resource("PodtapPolicy", namespace="shop", name="r")

    kubectl(api, "apply", "-f", "-", stdin=READER)
    try:
        with caplog.at_level(logging.WARNING, logger="podtap.backends.kubernetes"):
            run_as(api, "reader", body)
    finally:
        kubectl(api, "delete", "clusterrolebinding,clusterrole", "policy-reader")
    (line,) = [
        r.getMessage() for r in caplog.records if "CustomResourceDefinitions" in r.getMessage()
    ]
    assert line.startswith("policies: may not watch CustomResourceDefinitions")


def test_a_kind_it_may_not_watch_is_logged_as_not_enforced(
    api: Running, caplog: pytest.LogCaptureFixture
) -> None:
    async def body(admin: KubernetesBackend, cache: PolicyWatch) -> None:
        assert cache.watched == [] and cache.snapshot().policies == ()

    with caplog.at_level(logging.WARNING, logger="podtap.backends.kubernetes"):
        run_as(api, "nobody", body)
    refused = [
        r.getMessage() for r in caplog.records if "none of them is enforced" in r.getMessage()
    ]
    # (a kube-apiserver refuses mirrord's kinds too, installed or not; this one says 404)
    assert all(any(f"may not watch {n} (" in r for r in refused) for n in PODTAP_CRDS), refused


def test_credentials_the_server_refuses_fail_every_wait_in_one_line(
    api: Running, tmp_path: Path
) -> None:
    config = yaml.safe_load(api.kubeconfig.read_text())
    for user in config["users"]:
        user["user"] = {"token": "not-a-token"}
    bogus = tmp_path / "kubeconfig"
    bogus.write_text(yaml.safe_dump(config))

    async def go() -> None:
        backend = await KubernetesBackend.from_kubeconfig(path=bogus)
        async with backend, PolicyWatch.for_backend(backend) as cache:
            with pytest.raises(PolicyWatchFailed) as failed:
                await asyncio.wait_for(cache.synced(), 10)
            with pytest.raises(PolicyWatchFailed):
                await asyncio.wait_for(cache.changed(since=0), 1)
        line = str(failed.value)
        assert line.startswith("policies: the watch of customresourcedefinitions.apiextensions")
        assert "\n" not in line

    asyncio.run(go())
