"""ClusterRole aggregation: a role with an ``aggregationRule`` holds the rules of those it selects.

kube-controller-manager's ``clusterrole-aggregation`` controller rewrites such a role's rules to
the union, without repeats, of the rules of every *other* ClusterRole matched by any of its
``clusterRoleSelectors``, visiting selectors in order and matched roles by name. Its rules of
its own are replaced, not kept. Since ``view`` is itself labelled to aggregate into ``edit``,
and ``edit`` into ``admin``, the controller converges over several passes;
:func:`aggregate_all` runs those passes to the fixed point at once, so the server can apply it
after every ClusterRole write.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import replace
from typing import Final

from podtap.core.kube.label_selector import from_label_selector
from podtap.core.kube.rbac_types import ClusterRole, PolicyRule

__all__ = ["aggregate_all", "aggregated_rules"]

_MAX_PASSES: Final = 32


def aggregated_rules(
    role: ClusterRole, cluster_roles: Sequence[ClusterRole]
) -> tuple[PolicyRule, ...]:
    """The rules one pass of the controller gives ``role`` (its own rules if it aggregates nothing).

    Raises :class:`~podtap.core.kube.selectors.SelectorError` for a selector the controller
    could not use either.
    """
    if role.aggregation is None:
        return role.rules
    rules: list[PolicyRule] = []
    by_name = sorted(cluster_roles, key=lambda r: r.name)
    for selector_json in role.aggregation:
        selector = from_label_selector(selector_json)
        for other in by_name:
            if other.name == role.name or not selector.matches(other.labels):
                continue
            rules.extend(rule for rule in other.rules if rule not in rules)
    return tuple(rules)


def aggregate_all(cluster_roles: Sequence[ClusterRole]) -> dict[str, ClusterRole]:
    """Every ClusterRole by name, aggregating roles given the rules the controller settles on.

    Each pass syncs the aggregating roles one by one in name order, each seeing the rules the
    ones before it were just given (as the controller's later syncs see its earlier writes);
    passes repeat until one changes nothing, at most a bounded number of times.
    """
    current: dict[str, ClusterRole] = {role.name: role for role in cluster_roles}
    for _ in range(_MAX_PASSES):
        changed = False
        for name in sorted(current):
            role = current[name]
            rules = aggregated_rules(role, list(current.values()))
            if rules != role.rules:
                current[name] = replace(role, rules=rules)
                changed = True
        if not changed:
            break
    return current
