"""The resource types the API serves: built-ins as kube-apiserver v1.37 names them, plus CRDs.

Discovery, routing, list kinds and error messages all read one `ResourceType`, so a name is
spelled in one place. The built-in table copies the real server's names, short names,
categories and verbs because kubectl resolves `kubectl get deploy` and `kubectl get all`
through exactly these fields; a wrong one shows up as "the server doesn't have a resource type".
"""

from __future__ import annotations

from dataclasses import dataclass, field

ALL_VERBS = ("create", "delete", "deletecollection", "get", "list", "patch", "update", "watch")
NO_COLLECTION_DELETE = ("create", "delete", "get", "list", "patch", "update", "watch")
CREATE_ONLY = ("create",)


@dataclass(frozen=True)
class ResourceType:
    """One REST resource (a plural under a group/version), and how it is spelled everywhere."""

    group: str
    version: str
    plural: str
    singular: str
    kind: str
    namespaced: bool
    verbs: tuple[str, ...] = ALL_VERBS
    short_names: tuple[str, ...] = ()
    categories: tuple[str, ...] = ()
    subresources: tuple[str, ...] = ()
    # Objects only reviewed, never stored (SubjectAccessReview, TokenReview...).
    virtual: bool = False
    # For CRDs: the openAPIV3Schema and printer columns of this version.
    schema: dict[str, object] | None = field(default=None, compare=False, hash=False)
    printer_columns: tuple[dict[str, object], ...] = field(default=(), compare=False)

    @property
    def api_version(self) -> str:
        return f"{self.group}/{self.version}" if self.group else self.version

    @property
    def group_version(self) -> tuple[str, str]:
        return (self.group, self.version)

    @property
    def qualified(self) -> str:
        """`pods`, `deployments.apps`: how kube-apiserver names a resource in messages."""
        return f"{self.plural}.{self.group}" if self.group else self.plural

    @property
    def qualified_kind(self) -> str:
        """`Pod`, `Deployment.apps`: how kube-apiserver names a kind in Invalid messages."""
        return f"{self.kind}.{self.group}" if self.group else self.kind

    @property
    def list_kind(self) -> str:
        return f"{self.kind}List"

    def has_status(self) -> bool:
        return "status" in self.subresources


def _core(plural: str, kind: str, *, namespaced: bool = True, **kw: object) -> ResourceType:
    return _res("", "v1", plural, kind, namespaced=namespaced, **kw)


def _res(
    group: str,
    version: str,
    plural: str,
    kind: str,
    *,
    namespaced: bool = True,
    **kw: object,
) -> ResourceType:
    return ResourceType(
        group=group,
        version=version,
        plural=plural,
        singular=kind.lower(),
        kind=kind,
        namespaced=namespaced,
        **kw,  # type: ignore[arg-type]
    )


_STATUS = ("status",)
_SCALE = ("status", "scale")
_RBAC = "rbac.authorization.k8s.io"
_AUTHZ = "authorization.k8s.io"

BUILTINS: tuple[ResourceType, ...] = (
    _core("namespaces", "Namespace", namespaced=False, verbs=NO_COLLECTION_DELETE,
          short_names=("ns",), subresources=("status", "finalize")),
    _core("nodes", "Node", namespaced=False, short_names=("no",), subresources=_STATUS),
    _core("pods", "Pod", short_names=("po",), categories=("all",),
          subresources=("status", "log", "exec", "attach", "portforward", "ephemeralcontainers")),
    _core("services", "Service", verbs=NO_COLLECTION_DELETE, short_names=("svc",),
          categories=("all",), subresources=_STATUS),
    _core("configmaps", "ConfigMap", short_names=("cm",)),
    _core("secrets", "Secret"),
    _core("serviceaccounts", "ServiceAccount", short_names=("sa",), subresources=("token",)),
    _core("events", "Event", short_names=("ev",)),
    _core("endpoints", "Endpoints", short_names=("ep",)),
    # Stored and listed (kubectl describe namespace lists both), not enforced.
    _core("resourcequotas", "ResourceQuota", short_names=("quota",), subresources=_STATUS),
    _core("limitranges", "LimitRange", short_names=("limits",)),
    _res("apps", "v1", "deployments", "Deployment", short_names=("deploy",),
         categories=("all",), subresources=_SCALE),
    _res("apps", "v1", "statefulsets", "StatefulSet", short_names=("sts",),
         categories=("all",), subresources=_SCALE),
    _res("apps", "v1", "replicasets", "ReplicaSet", short_names=("rs",),
         categories=("all",), subresources=_SCALE),
    _res("apps", "v1", "daemonsets", "DaemonSet", short_names=("ds",),
         categories=("all",), subresources=_STATUS),
    _res("apps", "v1", "controllerrevisions", "ControllerRevision"),
    _res("batch", "v1", "jobs", "Job", categories=("all",), subresources=_STATUS),
    _res("batch", "v1", "cronjobs", "CronJob", short_names=("cj",), categories=("all",),
         subresources=_STATUS),
    _res(_RBAC, "v1", "roles", "Role"),
    _res(_RBAC, "v1", "rolebindings", "RoleBinding"),
    _res(_RBAC, "v1", "clusterroles", "ClusterRole", namespaced=False),
    _res(_RBAC, "v1", "clusterrolebindings", "ClusterRoleBinding", namespaced=False),
    _res("apiextensions.k8s.io", "v1", "customresourcedefinitions",
         "CustomResourceDefinition", namespaced=False, short_names=("crd", "crds"),
         categories=("api-extensions",), subresources=_STATUS),
    _res("apiregistration.k8s.io", "v1", "apiservices", "APIService", namespaced=False,
         categories=("api-extensions",), subresources=_STATUS),
    _res(_AUTHZ, "v1", "selfsubjectaccessreviews", "SelfSubjectAccessReview",
         namespaced=False, verbs=CREATE_ONLY, virtual=True),
    _res(_AUTHZ, "v1", "selfsubjectrulesreviews", "SelfSubjectRulesReview",
         namespaced=False, verbs=CREATE_ONLY, virtual=True),
    _res(_AUTHZ, "v1", "subjectaccessreviews", "SubjectAccessReview",
         namespaced=False, verbs=CREATE_ONLY, virtual=True),
    _res(_AUTHZ, "v1", "localsubjectaccessreviews", "LocalSubjectAccessReview",
         verbs=CREATE_ONLY, virtual=True),
    _res("authentication.k8s.io", "v1", "selfsubjectreviews", "SelfSubjectReview",
         namespaced=False, verbs=CREATE_ONLY, virtual=True),
    _res("authentication.k8s.io", "v1", "tokenreviews", "TokenReview",
         namespaced=False, verbs=CREATE_ONLY, virtual=True),
    _res("coordination.k8s.io", "v1", "leases", "Lease"),
    _res("discovery.k8s.io", "v1", "endpointslices", "EndpointSlice"),
    _res("events.k8s.io", "v1", "events", "Event", short_names=("ev",)),
    _res("policy", "v1", "poddisruptionbudgets", "PodDisruptionBudget", short_names=("pdb",),
         subresources=_STATUS),
)  # fmt: skip

# Groups in the order kube-apiserver lists them; kubectl prefers earlier groups on a name clash
# (so `kubectl get events` means core events, not events.k8s.io).
GROUP_ORDER: tuple[str, ...] = (
    "",
    "apiregistration.k8s.io",
    "apps",
    "events.k8s.io",
    "authentication.k8s.io",
    "authorization.k8s.io",
    "batch",
    "discovery.k8s.io",
    "policy",
    _RBAC,
    "coordination.k8s.io",
    "apiextensions.k8s.io",
)
