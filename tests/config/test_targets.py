"""The one list of target kinds (podtap/core/targets.py): parsing, aliases, mirrord's object
forms, label selectors, and the refusal of kinds a backend cannot resolve."""

from __future__ import annotations

import asyncio

import pytest

from podtap.backends.base import TargetRef as BackendTargetRef
from podtap.backends.kubernetes.backend import RESOLVABLE_KINDS
from podtap.core.targets import KINDS, TARGET_KINDS, TargetError, TargetRef, unresolvable_reason
from podtap.testing.fakebackend import FakeCluster


def test_the_backend_uses_the_core_list() -> None:
    assert BackendTargetRef is TargetRef
    assert set(TARGET_KINDS.values()) >= RESOLVABLE_KINDS
    assert [i.kind for i in KINDS] == [
        "deployment", "pod", "rollout", "job", "cronjob", "statefulset", "service", "replicaset",
        "label",
    ]  # fmt: skip


@pytest.mark.parametrize(
    ("text", "kind", "name", "container"),
    [
        ("deploy/web", "deployment", "web", None),
        ("deployments/web", "deployment", "web", None),
        ("po/web-1/container/app", "pod", "web-1", "app"),
        ("cronjob/nightly", "cronjob", "nightly", None),
        ("cj/nightly", "cronjob", "nightly", None),
        ("rs/web-5d9", "replicaset", "web-5d9", None),
        ("rollout/web", "rollout", "web", None),
        ("job/x.y", "job", "x.y", None),
        ("label/tier=web,app=api", "label", "app=api,tier=web", None),
        (
            "label/app.kubernetes.io/name=api/container/c",
            "label",
            "app.kubernetes.io/name=api",
            "c",
        ),
        ("targetless", "targetless", "", None),
    ],
)
def test_parse(text: str, kind: str, name: str, container: str | None) -> None:
    ref = TargetRef.parse(text)
    assert (ref.kind, ref.name, ref.container) == (kind, name, container)
    assert TargetRef.parse(str(ref)) == ref


def test_label_selector() -> None:
    ref = TargetRef.parse("label/app=api,tier=")
    assert ref.labels == {"app": "api", "tier": ""}
    assert TargetRef.parse("pod/a").labels == {}


@pytest.mark.parametrize(
    "text", ["web", "pod/", "pod/Web", "pod/a/b", "pod/a/container/", "widget/a", "label/",
             "label/=x", "label/a=1,a=2", "label/a=1/container/B"],
)  # fmt: skip
def test_parse_refuses_with_the_forms(text: str) -> None:
    with pytest.raises(TargetError, match="is not valid"):
        TargetRef.parse(text)


def test_object_forms() -> None:
    assert (
        str(TargetRef.from_object({"cron_job": "n", "container": "c"})) == "cronjob/n/container/c"
    )
    assert str(TargetRef.from_object({"labels": {"b": "2", "a": "1"}})) == "label/a=1,b=2"
    for bad in ({}, {"container": "c"}, {"pod": "a", "job": "b"}, {"pod": 3}, {"labels": "a=b"}):
        with pytest.raises(TargetError):
            TargetRef.from_object(bad)


def test_unresolvable_reason() -> None:
    kinds = frozenset({"pod", "deployment"})
    assert unresolvable_reason(TargetRef.parse("deploy/a"), resolvable=kinds, backend="B") is None
    reason = unresolvable_reason(TargetRef.parse("rollout/a"), resolvable=kinds, backend="B")
    assert reason is not None
    assert reason.startswith("target rollout/a: B cannot resolve rollout targets yet")


def test_the_kubernetes_backend_resolves_every_kind_and_the_fake_says_what_it_cannot() -> None:
    assert {i.kind for i in KINDS} == RESOLVABLE_KINDS
    backend = FakeCluster()
    with pytest.raises(TargetError, match="cannot resolve job targets yet"):
        asyncio.run(backend.resolve(TargetRef.parse("job/a"), namespace="default"))
    assert backend.resolvable_kinds == {"pod", "deployment", "statefulset", "service"}
