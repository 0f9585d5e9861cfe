"""Privilege-escalation checks on writes of Roles, ClusterRoles and their bindings.

RBAC would be moot if anyone allowed to create a Role could write ``*`` into it, so the real
server's RBAC storage (``pkg/registry/rbac/*/policybased``) lets a write through only when:

* the writer is in ``system:masters``; or
* for a (Cluster)Role, the writer may ``escalate`` it; for a binding, may ``bind`` the role it
  refers to (checked in the binding's namespace, ``""`` for a ClusterRoleBinding); or
* the writer already holds every permission being granted (``validation.Covers``), counting
  the rules bound to them cluster-wide and in the namespace written to.

An ``aggregationRule`` can gather anything, so setting or keeping one also needs ``*`` on
everything. The refusal is the server's 403: ``clusterroles.rbac.authorization.k8s.io "x" is
forbidden: user "alice" (groups=["system:authenticated"]) is attempting to grant RBAC
permissions not currently held:`` then one compacted missing rule per line.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Final

from podtap.core.kube.field_errors import aggregate
from podtap.core.kube.goquote import go_quote, go_quote_list
from podtap.core.kube.rbac import Attributes, Policy, authorize, role_ref_rules, rules_for
from podtap.core.kube.rbac_types import RBAC_GROUP, PolicyRule, RoleRef
from podtap.core.kube.refusal import Refusal, forbidden
from podtap.core.kube.users import SYSTEM_MASTERS, UserInfo

__all__ = [
    "breakdown_rule",
    "check_binding_write",
    "check_role_write",
    "compact_rules",
    "compact_string",
    "confirm_no_escalation",
    "covers",
]

_FULL_AUTHORITY: Final = (
    PolicyRule(verbs=("*",), api_groups=("*",), resources=("*",)),
    PolicyRule(verbs=("*",), non_resource_urls=("*",)),
)


def breakdown_rule(rule: PolicyRule) -> list[PolicyRule]:
    """``BreakdownRule``: one rule per (group, resource, verb[, name]) and per (URL, verb)."""
    each_name: list[tuple[str, ...]] = [(name,) for name in rule.resource_names] or [()]
    out = [
        PolicyRule(verbs=(verb,), api_groups=(group,), resources=(resource,), resource_names=names)
        for group in rule.api_groups
        for resource in rule.resources
        for verb in rule.verbs
        for names in each_name
    ]
    out.extend(
        PolicyRule(verbs=(verb,), non_resource_urls=(url,))
        for url in rule.non_resource_urls
        for verb in rule.verbs
    )
    return out


def _resources_cover(owned: Sequence[str], wanted: Sequence[str]) -> bool:
    if "*" in owned:
        return True
    for resource in wanted:
        if resource in owned:
            continue
        if "/" not in resource or "*/" + resource.split("/", 1)[1] not in owned:
            return False
    return True


def _url_covers(owned: str, wanted: str) -> bool:
    return owned == wanted or (owned.endswith("*") and wanted.startswith(owned.rstrip("*")))


def _rule_covers(owner: PolicyRule, sub: PolicyRule) -> bool:
    verbs = "*" in owner.verbs or set(sub.verbs) <= set(owner.verbs)
    groups = "*" in owner.api_groups or set(sub.api_groups) <= set(owner.api_groups)
    urls = all(
        any(_url_covers(o, w) for o in owner.non_resource_urls) for w in sub.non_resource_urls
    )
    names = not owner.resource_names or (
        bool(sub.resource_names) and set(sub.resource_names) <= set(owner.resource_names)
    )
    return verbs and groups and urls and names and _resources_cover(owner.resources, sub.resources)


def covers(
    owner: Sequence[PolicyRule], servant: Sequence[PolicyRule]
) -> tuple[bool, list[PolicyRule]]:
    """``validation.Covers``: whether ``owner`` holds all of ``servant``; the pieces it lacks."""
    missing = [
        sub
        for rule in servant
        for sub in breakdown_rule(rule)
        if not any(_rule_covers(o, sub) for o in owner)
    ]
    return not missing, missing


def compact_rules(rules: Sequence[PolicyRule]) -> list[PolicyRule]:
    """``CompactRules``: rules of one group and one resource, nothing else, merged across verbs."""
    out: list[PolicyRule] = []
    simple: dict[tuple[str, str], PolicyRule] = {}
    for rule in rules:
        plain = not rule.resource_names and not rule.non_resource_urls
        if plain and len(rule.api_groups) == 1 and len(rule.resources) == 1:
            key = (rule.api_groups[0], rule.resources[0])
            seen = simple.get(key)
            simple[key] = (
                rule
                if seen is None
                else PolicyRule(
                    verbs=seen.verbs + rule.verbs,
                    api_groups=seen.api_groups,
                    resources=seen.resources,
                )
            )
        else:
            out.append(rule)
    return out + list(simple.values())


def compact_string(rule: PolicyRule) -> str:
    """``rbacv1helpers.CompactString``: ``{APIGroups:["apps"], Resources:["deployments"], ...}``."""
    parts = [
        f"{label}:{go_quote_list(values)}"
        for label, values in (
            ("APIGroups", rule.api_groups),
            ("Resources", rule.resources),
            ("NonResourceURLs", rule.non_resource_urls),
            ("ResourceNames", rule.resource_names),
            ("Verbs", rule.verbs),
        )
        if values
    ]
    return "{" + ", ".join(parts) + "}"


def confirm_no_escalation(
    user: UserInfo, namespace: str, rules: Sequence[PolicyRule], *, policy: Policy
) -> str | None:
    """``ConfirmNoEscalation``: ``None`` if ``user`` holds ``rules``, else the complaint."""
    held = rules_for(user, namespace, policy=policy)
    ok, missing = covers(held.rules, rules)
    if ok:
        return None
    lines = sorted({compact_string(rule) for rule in compact_rules(missing)})
    message = (
        f"user {go_quote(user.name)} (groups={go_quote_list(user.groups)}) is attempting to grant "
        "RBAC permissions not currently held:\n" + "\n".join(lines)
    )
    if held.errors:
        message += f"; resolution errors: [{aggregate(held.errors, unique=False)}]"
    return message


def check_role_write(
    user: UserInfo,
    *,
    kind: str,
    name: str,
    namespace: str,
    rules: Sequence[PolicyRule],
    aggregates: bool = False,
    policy: Policy,
) -> Refusal | None:
    """May ``user`` create or update the Role (``kind="Role"``) or ClusterRole ``name``?

    ``aggregates`` says the new or the old ClusterRole has an ``aggregationRule``. ``None``
    lets the write through; a :class:`Refusal` is the 403 to answer.
    """
    resource = "roles" if kind == "Role" else "clusterroles"
    if SYSTEM_MASTERS in user.groups:
        return None
    scope = namespace if kind == "Role" else ""
    escalate = Attributes(
        user, "escalate", api_group=RBAC_GROUP, resource=resource, name=name, namespace=scope
    )
    if authorize(escalate, policy=policy).allowed:
        return None
    complaint = confirm_no_escalation(user, scope, rules, policy=policy)
    if (
        complaint is None
        and aggregates
        and confirm_no_escalation(user, scope, _FULL_AUTHORITY, policy=policy)
    ):
        complaint = "must have cluster-admin privileges to use the aggregationRule"
    if complaint is None:
        return None
    return forbidden(group=RBAC_GROUP, resource=resource, name=name, error=complaint)


def check_binding_write(
    user: UserInfo, *, kind: str, name: str, namespace: str, role_ref: RoleRef, policy: Policy
) -> Refusal | None:
    """May ``user`` create or update the RoleBinding or ClusterRoleBinding ``name``?

    A reference to a role that does not exist is refused with the server's 404.
    """
    resource = "rolebindings" if kind == "RoleBinding" else "clusterrolebindings"
    if SYSTEM_MASTERS in user.groups:
        return None
    scope = namespace if kind == "RoleBinding" else ""
    if role_ref.kind in ("Role", "ClusterRole"):
        bind = Attributes(
            user,
            "bind",
            api_group=role_ref.api_group,
            resource="roles" if role_ref.kind == "Role" else "clusterroles",
            name=role_ref.name,
            namespace=scope,
        )
        if authorize(bind, policy=policy).allowed:
            return None
    rules = role_ref_rules(role_ref, scope, policy)
    if isinstance(rules, str):
        code, reason = (404, "NotFound") if rules.endswith("not found") else (500, "InternalError")
        return Refusal(code=code, reason=reason, message=rules, details={"name": role_ref.name})
    complaint = confirm_no_escalation(user, scope, rules, policy=policy)
    if complaint is None:
        return None
    return forbidden(group=RBAC_GROUP, resource=resource, name=name, error=complaint)
