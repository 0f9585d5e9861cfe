"""The RBAC authorizer: does any role bound to the user allow the request? (``rbac.go``)

Deciding walks the bindings as kube-apiserver does: every ClusterRoleBinding first, then the
RoleBindings of the request's namespace, each binding whose subjects include the user granting
the rules of its role. The first rule that allows wins and names itself in the reason
(``RBAC: allowed by ClusterRoleBinding "x" of ClusterRole "y" to User "alice"``); a binding
whose role is missing is no error for the request, only a note in a denial's reason. Members of
``system:masters`` are allowed before RBAC is asked, as the privileged-group authorizer in
front of RBAC does, with an empty reason. Matching (``rule_allows``) is
``pkg/apis/rbac/v1/evaluation_helpers.go``: ``*`` matches any verb, group and resource,
``*/scale`` any resource's ``scale``, an empty ``resourceNames`` any name, and a trailing ``*``
in a non-resource URL a prefix.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from typing import Final

from podtap.core.kube.field_errors import aggregate
from podtap.core.kube.goquote import go_quote
from podtap.core.kube.rbac_types import (
    ClusterRole,
    ClusterRoleBinding,
    PolicyRule,
    Role,
    RoleBinding,
    RoleRef,
    Subject,
)
from podtap.core.kube.users import SYSTEM_MASTERS, UserInfo, matches_service_account

__all__ = [
    "Attributes",
    "Decision",
    "Policy",
    "RulesResult",
    "authorize",
    "role_ref_rules",
    "rule_allows",
    "rules_for",
]


@dataclass(frozen=True, slots=True)
class Attributes:
    """What a request asks to do (``authorizer.Attributes``).

    A resource request names ``verb``, ``api_group``, ``resource`` (plural, lowercase),
    optionally ``subresource``, ``name`` and ``namespace``; a non-resource request has
    ``resource_request=False`` and a ``path``.
    """

    user: UserInfo
    verb: str
    resource_request: bool = True
    api_group: str = ""
    resource: str = ""
    subresource: str = ""
    name: str = ""
    namespace: str = ""
    path: str = ""
    api_version: str = "*"


@dataclass(frozen=True, slots=True)
class Decision:
    """``allowed`` with the reason the authorizer gives (what SubjectAccessReview reports)."""

    allowed: bool
    reason: str = ""


@dataclass(frozen=True, slots=True)
class Policy:
    """All the RBAC objects of a cluster, indexed by name for the walk."""

    roles: Sequence[Role] = ()
    cluster_roles: Sequence[ClusterRole] = ()
    role_bindings: Sequence[RoleBinding] = ()
    cluster_role_bindings: Sequence[ClusterRoleBinding] = ()

    def role(self, namespace: str, name: str) -> Role | None:
        """The Role ``namespace/name``."""
        return next((r for r in self.roles if r.namespace == namespace and r.name == name), None)

    def cluster_role(self, name: str) -> ClusterRole | None:
        """The ClusterRole ``name``."""
        return next((r for r in self.cluster_roles if r.name == name), None)


@dataclass(frozen=True, slots=True)
class RulesResult:
    """Every rule that applies to a user in a namespace, and what could not be resolved."""

    rules: tuple[PolicyRule, ...]
    errors: tuple[str, ...] = ()


_ALL: Final = "*"


def _verb_matches(rule: PolicyRule, verb: str) -> bool:
    return _ALL in rule.verbs or verb in rule.verbs


def _group_matches(rule: PolicyRule, group: str) -> bool:
    return _ALL in rule.api_groups or group in rule.api_groups


def _resource_matches(rule: PolicyRule, combined: str, subresource: str) -> bool:
    for resource in rule.resources:
        if resource in (_ALL, combined):
            return True
        if subresource and resource == "*/" + subresource:
            return True
    return False


def _name_matches(rule: PolicyRule, name: str) -> bool:
    return not rule.resource_names or name in rule.resource_names


def _url_matches(rule: PolicyRule, path: str) -> bool:
    for url in rule.non_resource_urls:
        if url in (_ALL, path):
            return True
        if url.endswith("*") and path.startswith(url.rstrip("*")):
            return True
    return False


def rule_allows(attrs: Attributes, rule: PolicyRule) -> bool:
    """``RuleAllows``: whether ``rule`` alone allows the request."""
    if not _verb_matches(rule, attrs.verb):
        return False
    if not attrs.resource_request:
        return _url_matches(rule, attrs.path)
    combined = f"{attrs.resource}/{attrs.subresource}" if attrs.subresource else attrs.resource
    return (
        _group_matches(rule, attrs.api_group)
        and _resource_matches(rule, combined, attrs.subresource)
        and _name_matches(rule, attrs.name)
    )


def _applies(user: UserInfo, subject: Subject, namespace: str) -> bool:
    if subject.kind == "User":
        return user.name == subject.name
    if subject.kind == "Group":
        return subject.name in user.groups
    if subject.kind == "ServiceAccount":
        sa_namespace = subject.namespace or namespace
        return bool(sa_namespace) and matches_service_account(sa_namespace, subject.name, user.name)
    return False


def _describe(subject: Subject, namespace: str) -> str:
    if subject.kind == "ServiceAccount":
        return f"{subject.kind} {go_quote(subject.name + '/' + (subject.namespace or namespace))}"
    return f"{subject.kind} {go_quote(subject.name)}"


def role_ref_rules(ref: RoleRef, namespace: str, policy: Policy) -> tuple[PolicyRule, ...] | str:
    """``GetRoleReferenceRules``: the rules ``ref`` grants, or the error resolving it."""
    if ref.kind == "Role":
        role = policy.role(namespace, ref.name)
        if role is None:
            return f"role.rbac.authorization.k8s.io {go_quote(ref.name)} not found"
        return role.rules
    if ref.kind == "ClusterRole":
        cluster_role = policy.cluster_role(ref.name)
        if cluster_role is None:
            return f"clusterrole.rbac.authorization.k8s.io {go_quote(ref.name)} not found"
        return cluster_role.rules
    return f"unsupported role reference kind: {go_quote(ref.kind)}"


def _visit(
    user: UserInfo, namespace: str, policy: Policy
) -> Iterator[tuple[str, PolicyRule] | str]:
    """``VisitRulesFor``: ``(source, rule)`` for each rule that applies, or an error string."""
    for crb in policy.cluster_role_bindings:
        subject = next((s for s in crb.subjects if _applies(user, s, "")), None)
        if subject is None:
            continue
        rules = role_ref_rules(crb.role_ref, "", policy)
        if isinstance(rules, str):
            yield rules
            continue
        source = (
            f"ClusterRoleBinding {go_quote(crb.name)} of {crb.role_ref.kind} "
            f"{go_quote(crb.role_ref.name)} to {_describe(subject, '')}"
        )
        for rule in rules:
            yield source, rule
    if not namespace:
        return
    for rb in policy.role_bindings:
        if rb.namespace != namespace:
            continue
        subject = next((s for s in rb.subjects if _applies(user, s, namespace)), None)
        if subject is None:
            continue
        rules = role_ref_rules(rb.role_ref, namespace, policy)
        if isinstance(rules, str):
            yield rules
            continue
        source = (
            f"RoleBinding {go_quote(rb.name + '/' + rb.namespace)} of {rb.role_ref.kind} "
            f"{go_quote(rb.role_ref.name)} to {_describe(subject, namespace)}"
        )
        for rule in rules:
            yield source, rule


def rules_for(user: UserInfo, namespace: str, *, policy: Policy) -> RulesResult:
    """``RulesFor``: every rule bound to ``user`` cluster-wide and in ``namespace``."""
    rules: list[PolicyRule] = []
    errors: list[str] = []
    for item in _visit(user, namespace, policy):
        if isinstance(item, str):
            errors.append(item)
        else:
            rules.append(item[1])
    return RulesResult(tuple(rules), tuple(errors))


def authorize(
    attrs: Attributes,
    *,
    roles: Sequence[Role] = (),
    cluster_roles: Sequence[ClusterRole] = (),
    role_bindings: Sequence[RoleBinding] = (),
    cluster_role_bindings: Sequence[ClusterRoleBinding] = (),
    policy: Policy | None = None,
) -> Decision:
    """The decision kube-apiserver's privileged-group and RBAC authorizers reach for ``attrs``.

    Pass the four lists, or a ready :class:`Policy` as ``policy``.
    """
    if SYSTEM_MASTERS in attrs.user.groups:
        return Decision(True)
    if policy is None:
        policy = Policy(roles, cluster_roles, role_bindings, cluster_role_bindings)
    errors: list[str] = []
    for item in _visit(attrs.user, attrs.namespace, policy):
        if isinstance(item, str):
            errors.append(item)
        elif rule_allows(attrs, item[1]):
            return Decision(True, f"RBAC: allowed by {item[0]}")
    return Decision(False, f"RBAC: {aggregate(errors, unique=False)}" if errors else "")
