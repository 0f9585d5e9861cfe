"""Reviews the operator asks of the API server: whether RBAC lets a user do something
(SubjectAccessReview) and whose a bearer token is (TokenReview)."""

from __future__ import annotations

from podtap.backends.kubernetes.rest import Rest
from podtap.core.kube.users import UserInfo

REVIEWS = "/apis/authorization.k8s.io/v1/subjectaccessreviews"
TOKEN_REVIEWS = "/apis/authentication.k8s.io/v1/tokenreviews"


class SubjectAccessReviewer:
    """Asks the API server, as `kubectl auth can-i --as USER` would (the operator's service
    account needs `create subjectaccessreviews`: `system:auth-delegator` grants it)."""

    def __init__(self, rest: Rest) -> None:
        self._rest = rest

    async def allowed(self, user: UserInfo, *, verb: str, group: str, resource: str) -> bool:
        return await self.allows(user, {"verb": verb, "group": group, "resource": resource})

    async def allows(self, user: UserInfo, attributes: dict[str, str]) -> bool:
        """Whether RBAC allows `user` the `resourceAttributes` given."""
        spec = {
            "user": user.name,
            "groups": list(user.groups),
            "extra": {k: list(v) for k, v in user.extra.items()},
            "resourceAttributes": attributes,
        }
        if user.uid:
            spec["uid"] = user.uid
        body = {
            "apiVersion": "authorization.k8s.io/v1",
            "kind": "SubjectAccessReview",
            "spec": spec,
        }
        review = await self._rest.call("POST", REVIEWS, body=body)
        return bool((review.get("status") or {}).get("allowed"))


class TokenReviewer:
    """Whose a bearer token is, as the API server authenticates it (what an operator reached
    without the aggregator — through a port-forward — must ask; `system:auth-delegator`
    grants `create tokenreviews`)."""

    def __init__(self, rest: Rest) -> None:
        self._rest = rest

    async def user(self, token: str) -> UserInfo | None:
        """The token's user, or None if the API server does not accept it."""
        body = {
            "apiVersion": "authentication.k8s.io/v1",
            "kind": "TokenReview",
            "spec": {"token": token},
        }
        status = (await self._rest.call("POST", TOKEN_REVIEWS, body=body)).get("status") or {}
        if not status.get("authenticated"):
            return None
        user = status.get("user") or {}
        return UserInfo(
            name=str(user.get("username", "")),
            groups=tuple(user.get("groups") or ()),
            uid=str(user.get("uid", "")),
            extra={k: tuple(v) for k, v in (user.get("extra") or {}).items()},
        )
