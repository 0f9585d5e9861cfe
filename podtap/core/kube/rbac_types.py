"""RBAC objects (rules, subjects, roles, bindings) as typed values read from their JSON.

The API server stores Roles and bindings as the JSON clients send; the authorizer wants typed,
immutable values to match against. ``from_json`` reads the ``rbac.authorization.k8s.io/v1`` shape
(absent lists are empty, as Go's nil slices are), ``to_json`` writes it back with Go's
``omitempty`` (a rule's empty ``apiGroups`` is left out, ``verbs`` never is).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Final

__all__ = [
    "RBAC_GROUP",
    "ClusterRole",
    "ClusterRoleBinding",
    "PolicyRule",
    "Role",
    "RoleBinding",
    "RoleRef",
    "Subject",
]

RBAC_GROUP: Final = "rbac.authorization.k8s.io"


def _strings(obj: Mapping[str, Any], key: str) -> tuple[str, ...]:
    return tuple(obj.get(key) or ())


@dataclass(frozen=True, slots=True)
class PolicyRule:
    """One rule: verbs on resources of API groups (optionally by name), or on URL paths."""

    verbs: tuple[str, ...]
    api_groups: tuple[str, ...] = ()
    resources: tuple[str, ...] = ()
    resource_names: tuple[str, ...] = ()
    non_resource_urls: tuple[str, ...] = ()

    @classmethod
    def from_json(cls, obj: Mapping[str, Any]) -> PolicyRule:
        """A rule from its JSON."""
        return cls(
            verbs=_strings(obj, "verbs"),
            api_groups=_strings(obj, "apiGroups"),
            resources=_strings(obj, "resources"),
            resource_names=_strings(obj, "resourceNames"),
            non_resource_urls=_strings(obj, "nonResourceURLs"),
        )

    def to_json(self) -> dict[str, Any]:
        """The rule's JSON, empty lists left out but ``verbs``."""
        out: dict[str, Any] = {"verbs": list(self.verbs)}
        for key, values in (
            ("apiGroups", self.api_groups),
            ("resources", self.resources),
            ("resourceNames", self.resource_names),
            ("nonResourceURLs", self.non_resource_urls),
        ):
            if values:
                out[key] = list(values)
        return out


@dataclass(frozen=True, slots=True)
class Subject:
    """``User``, ``Group`` or ``ServiceAccount`` a binding names."""

    kind: str
    name: str
    namespace: str = ""
    api_group: str = ""

    @classmethod
    def from_json(cls, obj: Mapping[str, Any]) -> Subject:
        """A subject from its JSON."""
        return cls(
            obj.get("kind", ""),
            obj.get("name", ""),
            obj.get("namespace", ""),
            obj.get("apiGroup", ""),
        )

    def to_json(self) -> dict[str, str]:
        """The subject's JSON."""
        out = {"kind": self.kind, "name": self.name}
        if self.api_group:
            out["apiGroup"] = self.api_group
        if self.namespace:
            out["namespace"] = self.namespace
        return out


@dataclass(frozen=True, slots=True)
class RoleRef:
    """The ``Role`` or ``ClusterRole`` a binding grants."""

    kind: str
    name: str
    api_group: str = RBAC_GROUP

    @classmethod
    def from_json(cls, obj: Mapping[str, Any]) -> RoleRef:
        """A role reference from its JSON."""
        return cls(obj.get("kind", ""), obj.get("name", ""), obj.get("apiGroup", ""))


def _meta(obj: Mapping[str, Any]) -> Mapping[str, Any]:
    meta: Mapping[str, Any] = obj.get("metadata") or {}
    return meta


def _rules(obj: Mapping[str, Any]) -> tuple[PolicyRule, ...]:
    return tuple(PolicyRule.from_json(rule) for rule in obj.get("rules") or ())


@dataclass(frozen=True, slots=True)
class Role:
    """A namespaced set of rules."""

    namespace: str
    name: str
    rules: tuple[PolicyRule, ...] = ()

    @classmethod
    def from_json(cls, obj: Mapping[str, Any]) -> Role:
        """A Role from its JSON."""
        meta = _meta(obj)
        return cls(meta.get("namespace", ""), meta.get("name", ""), _rules(obj))


@dataclass(frozen=True, slots=True)
class ClusterRole:
    """A cluster-wide set of rules; with ``aggregation`` (its ``clusterRoleSelectors``, a tuple of
    ``LabelSelector`` JSON) its rules are gathered from the cluster roles those select."""

    name: str
    rules: tuple[PolicyRule, ...] = ()
    labels: Mapping[str, str] = field(default_factory=dict)
    aggregation: tuple[Mapping[str, Any], ...] | None = None

    @classmethod
    def from_json(cls, obj: Mapping[str, Any]) -> ClusterRole:
        """A ClusterRole from its JSON (``aggregationRule`` absent: ``aggregation is None``)."""
        meta = _meta(obj)
        rule = obj.get("aggregationRule")
        aggregation = None if rule is None else tuple(rule.get("clusterRoleSelectors") or ())
        return cls(meta.get("name", ""), _rules(obj), dict(meta.get("labels") or {}), aggregation)


@dataclass(frozen=True, slots=True)
class RoleBinding:
    """Grants a Role (or a ClusterRole, within the namespace) to subjects."""

    namespace: str
    name: str
    role_ref: RoleRef
    subjects: tuple[Subject, ...] = ()

    @classmethod
    def from_json(cls, obj: Mapping[str, Any]) -> RoleBinding:
        """A RoleBinding from its JSON."""
        meta = _meta(obj)
        subjects = tuple(Subject.from_json(s) for s in obj.get("subjects") or ())
        ref = RoleRef.from_json(obj.get("roleRef") or {})
        return cls(meta.get("namespace", ""), meta.get("name", ""), ref, subjects)


@dataclass(frozen=True, slots=True)
class ClusterRoleBinding:
    """Grants a ClusterRole everywhere to subjects."""

    name: str
    role_ref: RoleRef
    subjects: tuple[Subject, ...] = ()

    @classmethod
    def from_json(cls, obj: Mapping[str, Any]) -> ClusterRoleBinding:
        """A ClusterRoleBinding from its JSON."""
        subjects = tuple(Subject.from_json(s) for s in obj.get("subjects") or ())
        return cls(
            _meta(obj).get("name", ""), RoleRef.from_json(obj.get("roleRef") or {}), subjects
        )
