"""Target kinds and target references: the one list shared by the config and the backends.

mirrord names a target ``KIND/NAME[/container/CONTAINER]`` (``deployment/api``,
``pod/api-1/container/app``), ``label/KEY=VALUE[,KEY=VALUE...][/container/C]`` or
``targetless``; config files may also spell it as an object (``{"deployment": "api",
"container": "app"}``, ``{"labels": {"app": "api"}}``). :data:`KINDS` holds every kind with its
aliases and object key; :meth:`TargetRef.parse` and :meth:`TargetRef.from_object` read both
spellings into one typed reference. Which kinds a backend can *resolve* is the backend's
business (``RESOLVABLE_KINDS``); :func:`unresolvable_reason` words the refusal.
"""

from __future__ import annotations

import re
from collections.abc import Collection, Mapping
from dataclasses import dataclass
from typing import Any, Literal

__all__ = [
    "KINDS",
    "POD_KINDS",
    "TARGET_KINDS",
    "KindInfo",
    "TargetError",
    "TargetKind",
    "TargetRef",
    "unresolvable_reason",
]

TargetKind = Literal[
    "pod",
    "deployment",
    "rollout",
    "job",
    "cronjob",
    "statefulset",
    "service",
    "replicaset",
    "label",
    "targetless",
]


@dataclass(frozen=True, slots=True)
class KindInfo:
    """``kind`` as written canonically, the ``aliases`` accepted before the ``/`` (mirrord's
    ``deploy``, kubectl's short names), and the key of mirrord's object form."""

    kind: TargetKind
    aliases: tuple[str, ...]
    object_key: str


#: Every kind mirrord accepts (its ``Target`` enum), in mirrord's order.
KINDS: tuple[KindInfo, ...] = (
    KindInfo("deployment", ("deploy", "deployments"), "deployment"),
    KindInfo("pod", ("pods", "po"), "pod"),
    KindInfo("rollout", ("rollouts", "ro"), "rollout"),
    KindInfo("job", ("jobs",), "job"),
    KindInfo("cronjob", ("cronjobs", "cj"), "cron_job"),
    KindInfo("statefulset", ("statefulsets", "sts"), "stateful_set"),
    KindInfo("service", ("services", "svc"), "service"),
    KindInfo("replicaset", ("replicasets", "rs"), "replica_set"),
    KindInfo("label", (), "labels"),
)

#: The kinds that name pods to run next to: every kind but targetless (what the operator on
#: the Kubernetes API resolves; a client refuses targetless before connecting).
POD_KINDS: frozenset[TargetKind] = frozenset(info.kind for info in KINDS)

#: Spelling before the ``/`` -> kind (canonical names and aliases).
TARGET_KINDS: dict[str, TargetKind] = {
    name: info.kind for info in KINDS for name in (info.kind, *info.aliases)
}
_BY_OBJECT_KEY: dict[str, TargetKind] = {info.object_key: info.kind for info in KINDS}

_NAME = r"[a-z0-9](?:[a-z0-9.-]*[a-z0-9])?"
_TARGET = re.compile(rf"^(?P<kind>[a-z]+)/(?P<name>{_NAME})(?:/container/(?P<container>{_NAME}))?$")
_LABEL_KEY = re.compile(r"^(?:[a-z0-9.-]+/)?[A-Za-z0-9](?:[A-Za-z0-9_.-]*[A-Za-z0-9])?$")
_LABEL_VALUE = re.compile(r"^(?:[A-Za-z0-9](?:[A-Za-z0-9_.-]*[A-Za-z0-9])?)?$")
_FORMS = (
    "KIND/NAME[/container/CONTAINER] (KIND one of "
    + ", ".join(i.kind for i in KINDS if i.kind != "label")
    + "), label/KEY=VALUE[,KEY=VALUE...][/container/CONTAINER], or targetless"
)


class TargetError(LookupError):
    """A target that cannot be used; the message says what to do instead."""


@dataclass(frozen=True, slots=True)
class TargetRef:
    """A target as named by the user. For ``label`` targets ``name`` is the selector
    (``app=api,tier=web``, keys sorted) and :attr:`labels` its mapping."""

    kind: TargetKind
    name: str
    container: str | None = None

    @classmethod
    def parse(cls, text: str) -> TargetRef:
        """``deployment/shop``, ``pod/shop-1/container/app``, ``svc/shop``,
        ``label/app=shop``, or ``targetless``; raises :class:`TargetError`."""
        text = text.strip()
        if text == "targetless":
            return cls("targetless", "")
        if text.startswith("label/"):
            return _parse_label(text)
        m = _TARGET.match(text)
        if not m or m["kind"] not in TARGET_KINDS:
            raise TargetError(f"target {text!r} is not valid: use {_FORMS}")
        return cls(TARGET_KINDS[m["kind"]], m["name"], m["container"])

    @classmethod
    def from_object(cls, obj: Mapping[str, Any]) -> TargetRef:
        """mirrord's object form: ``{"deployment": "api", "container": "app"}``,
        ``{"cron_job": "nightly"}``, ``{"labels": {"app": "api"}}``, ..."""
        keys = [k for k in obj if k != "container"]
        if len(keys) != 1 or keys[0] not in _BY_OBJECT_KEY:
            known = ", ".join(i.object_key for i in KINDS)
            raise TargetError(
                f"target object {dict(obj)!r} is not valid: give exactly one of {known}, "
                "and optionally container"
            )
        kind = _BY_OBJECT_KEY[keys[0]]
        container = obj.get("container")
        if container is not None and not isinstance(container, str):
            raise TargetError(f"target container must be a string, got {container!r}")
        tail = f"/container/{container}" if container else ""
        value = obj[keys[0]]
        if kind == "label":
            if not isinstance(value, Mapping):
                raise TargetError("target labels must be an object of KEY: VALUE")
            selector = ",".join(f"{k}={v}" for k, v in value.items())
            return cls.parse(f"label/{selector}{tail}")
        if not isinstance(value, str):
            raise TargetError(f"target {keys[0]} must be a name, got {value!r}")
        return cls.parse(f"{kind}/{value}{tail}")

    @property
    def labels(self) -> dict[str, str]:
        """The selector of a ``label`` target (empty for other kinds)."""
        if self.kind != "label":
            return {}
        return dict(part.split("=", 1) for part in self.name.split(","))

    def __str__(self) -> str:
        if self.kind == "targetless":
            return "targetless"
        tail = f"/container/{self.container}" if self.container else ""
        return f"{self.kind}/{self.name}{tail}"


def _parse_label(text: str) -> TargetRef:
    """mirrord's ``label/k=v,...[/container/c]``: keys may hold a ``/`` (``app.kubernetes.io/
    name``), so the container is split off from the right, as mirrord does."""
    body = text.removeprefix("label/")
    selector, sep, container = body.rpartition("/container/")
    if not sep:
        selector, container = body, ""
    elif not re.fullmatch(_NAME, container):
        raise TargetError(f"target {text!r} is not valid: bad container name {container!r}")
    labels: dict[str, str] = {}
    for requirement in selector.split(","):
        key, eq, value = requirement.partition("=")
        if not eq or not _LABEL_KEY.match(key) or not _LABEL_VALUE.match(value):
            raise TargetError(
                f"target {text!r} is not valid: use label/KEY=VALUE[,KEY=VALUE...]"
                "[/container/CONTAINER] with Kubernetes label keys and values"
            )
        if key in labels:
            raise TargetError(f"target {text!r} is not valid: label {key!r} is given twice")
        labels[key] = value
    name = ",".join(f"{k}={labels[k]}" for k in sorted(labels))
    return TargetRef("label", name, container or None)


def unresolvable_reason(
    ref: TargetRef, *, resolvable: Collection[TargetKind], backend: str
) -> str | None:
    """Why ``backend`` cannot use ``ref`` (None when it can): said before connecting."""
    if ref.kind in resolvable:
        return None
    if ref.kind == "targetless":
        return (
            f"target targetless: {backend} needs a pod to run next to; targetless sessions are "
            "not supported yet (give a target such as deployment/NAME)"
        )
    can = ", ".join(i.kind for i in KINDS if i.kind in resolvable)
    return (
        f"target {ref}: {backend} cannot resolve {ref.kind} targets yet "
        f"(it resolves {can}); target one of its pods instead (podtap ls lists them)"
    )
