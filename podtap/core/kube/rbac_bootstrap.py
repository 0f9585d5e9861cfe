"""The ClusterRoles and ClusterRoleBindings a fresh kube-apiserver creates, as data.

kubectl and Helm users lean on these: ``cluster-admin`` for the admin kubeconfig, ``admin``,
``edit`` and ``view`` to bind to people (each built by aggregation from the
``system:aggregate-to-*`` roles, so a CRD's author can add rules by labelling a role),
``system:discovery``, ``system:basic-user`` and ``system:public-info-viewer`` so every
authenticated user can read ``/api``, ask ``kubectl auth can-i`` and see ``/version``.
Copied from ``plugin/pkg/auth/authorizer/rbac/bootstrappolicy/testdata/cluster-roles.yaml``
(the rendering kube-apiserver's tests pin), limited to those roles and the few
``system:`` ones that cost nothing to serve.
"""

from __future__ import annotations

from typing import Any, Final

from podtap.core.kube.rbac_aggregation import aggregate_all
from podtap.core.kube.rbac_types import (
    RBAC_GROUP,
    ClusterRole,
    ClusterRoleBinding,
    PolicyRule,
    RoleRef,
    Subject,
)

__all__ = [
    "AGGREGATE_TO_ADMIN",
    "AGGREGATE_TO_EDIT",
    "AGGREGATE_TO_VIEW",
    "bootstrap_cluster_role_bindings",
    "bootstrap_cluster_roles",
    "cluster_role_binding_json",
    "cluster_role_json",
]

AGGREGATE_TO_ADMIN: Final = "rbac.authorization.k8s.io/aggregate-to-admin"
AGGREGATE_TO_EDIT: Final = "rbac.authorization.k8s.io/aggregate-to-edit"
AGGREGATE_TO_VIEW: Final = "rbac.authorization.k8s.io/aggregate-to-view"
_BOOTSTRAP_LABEL: Final = {"kubernetes.io/bootstrapping": "rbac-defaults"}
_AUTOUPDATE: Final = {"rbac.authorization.kubernetes.io/autoupdate": "true"}

_READ: Final = "get list watch"
_WRITE: Final = "create delete deletecollection patch update"
_READ_WRITE: Final = "create delete deletecollection get list patch update watch"


def _r(verbs: str, group: str, resources: str) -> PolicyRule:
    """A rule from space-separated verbs and resources (one group: all these roles need)."""
    return PolicyRule(
        verbs=tuple(verbs.split()), api_groups=(group,), resources=tuple(resources.split())
    )


def _urls(urls: str) -> PolicyRule:
    return PolicyRule(verbs=("get",), non_resource_urls=tuple(urls.split()))


_AGGREGATE_TO_VIEW_RULES: Final = (
    _r(
        _READ,
        "",
        "configmaps endpoints persistentvolumeclaims persistentvolumeclaims/status pods "
        "replicationcontrollers replicationcontrollers/scale serviceaccounts services "
        "services/status",
    ),
    _r(
        _READ,
        "",
        "bindings events limitranges namespaces/status pods/log pods/status "
        "replicationcontrollers/status resourcequotas resourcequotas/status",
    ),
    _r(_READ, "", "namespaces"),
    _r(_READ, "discovery.k8s.io", "endpointslices"),
    _r(
        _READ,
        "apps",
        "controllerrevisions daemonsets daemonsets/status deployments deployments/scale "
        "deployments/status replicasets replicasets/scale replicasets/status statefulsets "
        "statefulsets/scale statefulsets/status",
    ),
    _r(_READ, "autoscaling", "horizontalpodautoscalers horizontalpodautoscalers/status"),
    _r(_READ, "batch", "cronjobs cronjobs/status jobs jobs/status"),
    _r(
        _READ,
        "extensions",
        "daemonsets daemonsets/status deployments deployments/scale "
        "deployments/status ingresses ingresses/status networkpolicies replicasets "
        "replicasets/scale replicasets/status replicationcontrollers/scale",
    ),
    _r(_READ, "policy", "poddisruptionbudgets poddisruptionbudgets/status"),
    _r(_READ, "networking.k8s.io", "ingresses ingresses/status networkpolicies"),
)
_AGGREGATE_TO_EDIT_RULES: Final = (
    _r(_READ, "", "pods/attach pods/exec pods/portforward pods/proxy secrets services/proxy"),
    _r("impersonate", "", "serviceaccounts"),
    _r(_WRITE, "", "pods pods/attach pods/exec pods/portforward pods/proxy"),
    _r("create", "", "pods/eviction"),
    _r(
        _WRITE,
        "",
        "configmaps events persistentvolumeclaims replicationcontrollers "
        "replicationcontrollers/scale secrets serviceaccounts services services/proxy",
    ),
    _r("create", "", "serviceaccounts/token"),
    _r(
        _WRITE,
        "apps",
        "daemonsets deployments deployments/rollback deployments/scale replicasets "
        "replicasets/scale statefulsets statefulsets/scale",
    ),
    _r(_WRITE, "autoscaling", "horizontalpodautoscalers"),
    _r(_WRITE, "batch", "cronjobs jobs"),
    _r(
        _WRITE,
        "extensions",
        "daemonsets deployments deployments/rollback deployments/scale ingresses "
        "networkpolicies replicasets replicasets/scale replicationcontrollers/scale",
    ),
    _r(_WRITE, "policy", "poddisruptionbudgets"),
    _r(_WRITE, "networking.k8s.io", "ingresses networkpolicies"),
    _r(_READ_WRITE, "coordination.k8s.io", "leases"),
)
_AGGREGATE_TO_ADMIN_RULES: Final = (
    _r("create", "authorization.k8s.io", "localsubjectaccessreviews"),
    _r(_READ_WRITE, RBAC_GROUP, "rolebindings roles"),
)
_DISCOVERY: Final = (
    "/api /api/* /apis /apis/* /healthz /livez /openapi /openapi/* /readyz /version /version/"
)
_MONITORING: Final = "/healthz /healthz/* /livez /livez/* /metrics /metrics/slis /readyz /readyz/*"
_PUBLIC_INFO: Final = "/healthz /livez /readyz /version /version/"
_ISSUER: Final = "/.well-known/openid-configuration /openid/v1/jwks"


def _aggregating(label: str) -> tuple[dict[str, Any], ...]:
    return ({"matchLabels": {label: "true"}},)


def _labelled(*aggregate_to: str) -> dict[str, str]:
    return {**_BOOTSTRAP_LABEL, **dict.fromkeys(aggregate_to, "true")}


def _roles() -> tuple[ClusterRole, ...]:
    everything = (_r("*", "*", "*"), PolicyRule(verbs=("*",), non_resource_urls=("*",)))
    plain = _labelled()
    return (
        ClusterRole("admin", (), plain, _aggregating(AGGREGATE_TO_ADMIN)),
        ClusterRole("cluster-admin", everything, plain),
        ClusterRole("edit", (), _labelled(AGGREGATE_TO_ADMIN), _aggregating(AGGREGATE_TO_EDIT)),
        ClusterRole("view", (), _labelled(AGGREGATE_TO_EDIT), _aggregating(AGGREGATE_TO_VIEW)),
        ClusterRole(
            "system:aggregate-to-admin", _AGGREGATE_TO_ADMIN_RULES, _labelled(AGGREGATE_TO_ADMIN)
        ),
        ClusterRole(
            "system:aggregate-to-edit", _AGGREGATE_TO_EDIT_RULES, _labelled(AGGREGATE_TO_EDIT)
        ),
        ClusterRole(
            "system:aggregate-to-view", _AGGREGATE_TO_VIEW_RULES, _labelled(AGGREGATE_TO_VIEW)
        ),
        ClusterRole(
            "system:auth-delegator",
            (
                _r("create", "authentication.k8s.io", "tokenreviews"),
                _r("create", "authorization.k8s.io", "subjectaccessreviews"),
            ),
            plain,
        ),
        ClusterRole(
            "system:basic-user",
            (
                _r(
                    "create",
                    "authorization.k8s.io",
                    "selfsubjectaccessreviews selfsubjectrulesreviews",
                ),
                _r("create", "authentication.k8s.io", "selfsubjectreviews"),
            ),
            plain,
        ),
        ClusterRole("system:discovery", (_urls(_DISCOVERY),), plain),
        ClusterRole("system:monitoring", (_urls(_MONITORING),), plain),
        ClusterRole("system:public-info-viewer", (_urls(_PUBLIC_INFO),), plain),
        ClusterRole("system:service-account-issuer-discovery", (_urls(_ISSUER),), plain),
    )


def bootstrap_cluster_roles() -> tuple[ClusterRole, ...]:
    """The default ClusterRoles, ``admin``, ``edit`` and ``view`` holding their aggregated rules."""
    aggregated = aggregate_all(_roles())
    return tuple(aggregated[name] for name in sorted(aggregated))


def _group(name: str) -> Subject:
    return Subject("Group", name, api_group=RBAC_GROUP)


def bootstrap_cluster_role_bindings() -> tuple[ClusterRoleBinding, ...]:
    """The default ClusterRoleBindings of the roles above."""
    authenticated, unauthenticated = (
        _group("system:authenticated"),
        _group("system:unauthenticated"),
    )
    return tuple(
        ClusterRoleBinding(name, RoleRef("ClusterRole", name), subjects)
        for name, subjects in (
            ("cluster-admin", (_group("system:masters"),)),
            ("system:basic-user", (authenticated,)),
            ("system:discovery", (authenticated,)),
            ("system:monitoring", (_group("system:monitoring"),)),
            ("system:public-info-viewer", (authenticated, unauthenticated)),
            ("system:service-account-issuer-discovery", (_group("system:serviceaccounts"),)),
        )
    )


def _metadata(name: str, labels: dict[str, str]) -> dict[str, Any]:
    return {"name": name, "labels": labels, "annotations": dict(_AUTOUPDATE)}


def cluster_role_json(role: ClusterRole) -> dict[str, Any]:
    """A bootstrap ClusterRole as the object the server stores."""
    out: dict[str, Any] = {
        "apiVersion": f"{RBAC_GROUP}/v1",
        "kind": "ClusterRole",
        "metadata": _metadata(role.name, dict(role.labels)),
        "rules": [rule.to_json() for rule in role.rules],
    }
    if role.aggregation is not None:
        out["aggregationRule"] = {"clusterRoleSelectors": [dict(s) for s in role.aggregation]}
    return out


def cluster_role_binding_json(binding: ClusterRoleBinding) -> dict[str, Any]:
    """A bootstrap ClusterRoleBinding as the object the server stores."""
    ref = binding.role_ref
    return {
        "apiVersion": f"{RBAC_GROUP}/v1",
        "kind": "ClusterRoleBinding",
        "metadata": _metadata(binding.name, dict(_BOOTSTRAP_LABEL)),
        "roleRef": {"apiGroup": ref.api_group, "kind": ref.kind, "name": ref.name},
        "subjects": [subject.to_json() for subject in binding.subjects],
    }
