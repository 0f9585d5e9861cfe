"""Authorization and impersonation of every request, with RBAC read from the store.

kube-apiserver's filter chain is authentication, then impersonation, then authorization, and
so is this one: `access` runs after the authenticator, swaps the identity for the one asked
for with `Impersonate-*` headers (each part authorized as `impersonate` by RBAC) and
authorizes non-resource paths (discovery, `/version`, `/openapi`) itself; resource requests
are authorized by the handler through `check`, once the verb is known. The decisions are the
pure `podtap.core.kube.rbac` authorizer's; what is here is the RBAC objects it reads, kept as
a `Policy` rebuilt only after an RBAC object changes (most writes touch none).
"""

from __future__ import annotations

from aiohttp import web
from aiohttp.typedefs import Middleware

from podtap.backends.local.kubeapi.auth import IDENTITY, Handler, Identity, identity_of
from podtap.backends.local.kubeapi.store import Event, Store
from podtap.core.kube.forbidden import request_forbidden
from podtap.core.kube.impersonation import impersonate
from podtap.core.kube.rbac import Attributes, Policy, authorize
from podtap.core.kube.rbac_types import (
    RBAC_GROUP,
    ClusterRole,
    ClusterRoleBinding,
    Role,
    RoleBinding,
)
from podtap.core.kube.users import UserInfo

_PUBLIC = frozenset({"/healthz", "/livez", "/readyz"})


class RbacIndex:
    """The cluster's RBAC objects as a Policy, rebuilt lazily after one of them changes."""

    def __init__(self, store: Store) -> None:
        self._store = store
        self._policy: Policy | None = None
        store.listen(self._changed)

    def _changed(self, event: Event) -> None:
        if event.key.group == RBAC_GROUP:
            self._policy = None

    def invalidate(self) -> None:
        """Forget the policy (after `Store.restore`, which tells no listener)."""
        self._policy = None

    def policy(self) -> Policy:
        if self._policy is None:
            items = self._store.items
            self._policy = Policy(
                roles=[Role.from_json(o) for o in items(group=RBAC_GROUP, plural="roles")],
                cluster_roles=[
                    ClusterRole.from_json(o) for o in items(group=RBAC_GROUP, plural="clusterroles")
                ],
                role_bindings=[
                    RoleBinding.from_json(o) for o in items(group=RBAC_GROUP, plural="rolebindings")
                ],
                cluster_role_bindings=[
                    ClusterRoleBinding.from_json(o)
                    for o in items(group=RBAC_GROUP, plural="clusterrolebindings")
                ],
            )
        return self._policy


def user_info(identity: Identity) -> UserInfo:
    return UserInfo(identity.user, identity.groups, "", dict(identity.extra))


def check(index: RbacIndex, identity: Identity, attrs: Attributes) -> None:
    """Let the request through, or raise the 403 kube-apiserver words for it."""
    decision = authorize(attrs, policy=index.policy())
    if not decision.allowed:
        raise request_forbidden(attrs, decision.reason)


def is_resource_path(path: str) -> bool:
    """`/api/v1/pods`, `/apis/apps/v1/deployments`; not discovery (`/api/v1`, `/apis/apps`)."""
    parts = [p for p in path.split("/") if p]
    return (len(parts) >= 3 and parts[0] == "api") or (len(parts) >= 4 and parts[0] == "apis")


def access(index: RbacIndex) -> Middleware:
    """Impersonation for every request, authorization for the non-resource ones."""

    @web.middleware
    async def middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
        if request.path in _PUBLIC:
            return await handler(request)
        who = identity_of(request)
        headers = list(request.headers.items())
        asking = any(name.lower().startswith("impersonate-") for name, _ in headers)
        asked = impersonate(user_info(who), headers, policy=index.policy()) if asking else None
        if asked is not None:
            who = Identity(asked.name, asked.groups, {k: tuple(v) for k, v in asked.extra.items()})
            request[IDENTITY] = who
        if not is_resource_path(request.path):
            verb = "get" if request.method == "HEAD" else request.method.lower()
            attrs = Attributes(user_info(who), verb, resource_request=False, path=request.path)
            check(index, who, attrs)
        return await handler(request)

    return middleware
