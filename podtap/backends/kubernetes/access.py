"""SubjectAccessReviews: whether RBAC lets a user do something (the operator's admin check)."""

from __future__ import annotations

from podtap.backends.kubernetes.rest import Rest
from podtap.core.kube.users import UserInfo

REVIEWS = "/apis/authorization.k8s.io/v1/subjectaccessreviews"


class SubjectAccessReviewer:
    """Asks the API server, as `kubectl auth can-i --as USER` would (the operator's service
    account needs `create subjectaccessreviews`: `system:auth-delegator` grants it)."""

    def __init__(self, rest: Rest) -> None:
        self._rest = rest

    async def allowed(self, user: UserInfo, *, verb: str, group: str, resource: str) -> bool:
        spec = {
            "user": user.name,
            "groups": list(user.groups),
            "extra": {k: list(v) for k, v in user.extra.items()},
            "resourceAttributes": {"verb": verb, "group": group, "resource": resource},
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
