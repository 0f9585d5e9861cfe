"""Review objects: answered from the caller's identity, never stored.

`kubectl auth can-i` creates a SelfSubjectAccessReview and `kubectl auth whoami` a
SelfSubjectReview; the answer is the object with its status filled in. Both go through the
same authorizer as real requests (`seams.allowed`), so can-i says what the server will do.
Reviews about other subjects (SubjectAccessReview, TokenReview...) wait for RBAC.
"""

from __future__ import annotations

from podtap.backends.local.kubeapi import seams
from podtap.backends.local.kubeapi.auth import Identity
from podtap.backends.local.kubeapi.resources import ResourceType
from podtap.backends.local.kubeapi.status import not_yet
from podtap.backends.local.kubeapi.store import Obj


def review(rt: ResourceType, obj: Obj, who: Identity) -> Obj:
    obj["apiVersion"], obj["kind"] = rt.api_version, rt.kind
    obj.setdefault("metadata", {})
    if rt.kind == "SelfSubjectReview":
        user: dict[str, object] = {"username": who.user, "groups": list(who.groups)}
        if who.extra:
            user["extra"] = {k: list(v) for k, v in who.extra.items()}
        obj["status"] = {"userInfo": user}
        return obj
    if rt.kind == "SelfSubjectAccessReview":
        spec = obj.get("spec") or {}
        res = spec.get("resourceAttributes")
        if res is None:
            raise not_yet("nonResourceAttributes in SelfSubjectAccessReview")
        attrs = seams.Attributes(
            verb=str(res.get("verb", "")),
            group=str(res.get("group", "")),
            resource=str(res.get("resource", "")),
            subresource=str(res.get("subresource", "")),
            namespace=str(res.get("namespace", "")),
            name=str(res.get("name", "")),
        )
        allowed = seams.allowed(user=who.user, groups=who.groups, attrs=attrs)
        obj["status"] = {"allowed": allowed}
        if allowed:
            obj["status"]["reason"] = f"{seams.ADMIN_GROUP} may do anything"
        return obj
    raise not_yet(rt.kind)
