"""Review objects: answered from the caller's identity and the RBAC policy, never stored.

`kubectl auth can-i` creates a SelfSubjectAccessReview (`--list`: a SelfSubjectRulesReview),
`kubectl auth whoami` a SelfSubjectReview; controllers and webhooks ask about others with
SubjectAccessReview (LocalSubjectAccessReview: in one namespace) and check tokens with
TokenReview. The answer is the object with its `status` filled in by the same authorizer that
decides real requests, so can-i says what the server will do.
"""

from __future__ import annotations

from podtap.backends.local.kubeapi.auth import Identity, TokenAnswer, TokenBook, with_authenticated
from podtap.backends.local.kubeapi.authz import RbacIndex, user_info
from podtap.backends.local.kubeapi.resources import ResourceType
from podtap.backends.local.kubeapi.status import bad_request, not_yet
from podtap.backends.local.kubeapi.store import Obj
from podtap.core.kube.access_reviews import (
    self_subject_access_review,
    self_subject_rules_review,
    subject_access_review,
)


def _user_json(who: Identity) -> Obj:
    user: Obj = {"username": who.user}
    if who.uid:
        user["uid"] = who.uid
    user["groups"] = list(who.groups)
    if who.extra:
        user["extra"] = {k: list(v) for k, v in who.extra.items()}
    return user


def token_review(obj: Obj, tokens: TokenBook) -> Obj:
    """TokenReview's status as kube-apiserver's: authenticated, user, the audiences of those
    asked the token is good for (the server's own when none are asked), or the error."""
    spec = obj.get("spec") or {}
    token = str(spec.get("token", ""))
    asked = tuple(str(a) for a in spec.get("audiences") or ())
    answer = tokens.review(token, asked) if token else TokenAnswer(None)
    if answer.identity is None:
        status: Obj = {"user": {}}
        if answer.error:
            status["error"] = answer.error
        return status
    status = {"authenticated": True, "user": _user_json(with_authenticated(answer.identity))}
    if asked or answer.audiences:
        status["audiences"] = list(answer.audiences)
    return status


def review(
    rt: ResourceType,
    obj: Obj,
    who: Identity,
    *,
    rbac: RbacIndex,
    tokens: TokenBook,
    namespace: str = "",
) -> Obj:
    obj["apiVersion"], obj["kind"] = rt.api_version, rt.kind
    obj.setdefault("metadata", {})
    policy = rbac.policy()
    if rt.kind == "SelfSubjectReview":
        obj["status"] = {"userInfo": _user_json(who)}
    elif rt.kind == "SelfSubjectAccessReview":
        obj["status"] = self_subject_access_review(obj, user=user_info(who), policy=policy)
    elif rt.kind == "SelfSubjectRulesReview":
        obj["status"] = self_subject_rules_review(obj, user=user_info(who), policy=policy)
    elif rt.kind == "SubjectAccessReview":
        obj["status"] = subject_access_review(obj, policy=policy)
    elif rt.kind == "LocalSubjectAccessReview":
        attrs = (obj.get("spec") or {}).get("resourceAttributes")
        if isinstance(attrs, dict):
            attrs.setdefault("namespace", namespace)
        if isinstance(attrs, dict) and attrs["namespace"] != namespace:
            raise bad_request(
                f"spec.resourceAttributes.namespace must match namespace: {namespace}"
            )
        obj["status"] = subject_access_review(obj, policy=policy)
    elif rt.kind == "TokenReview":
        obj["status"] = token_review(obj, tokens)
    else:
        raise not_yet(rt.kind)
    return obj
