"""Where the pure Kubernetes modules of podtap/core/kube/ plug in once they exist.

Patches (JSON, merge, strategic merge, server-side apply), label and field selectors, RBAC and
impersonation are written as pure modules by other hands. Until they land, each seam here
answers the simple case it can answer exactly and refuses the rest with a 501 Status naming the
missing feature, so nothing is half-done silently: a selector is never ignored (that would
list or delete too much), a patch is never guessed at. Replace the bodies, keep the signatures.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from podtap.backends.local.kubeapi.status import not_yet

Obj = dict[str, Any]

PATCH_TYPES = (
    "application/json-patch+json",
    "application/merge-patch+json",
    "application/strategic-merge-patch+json",
    "application/apply-patch+yaml",
)


def object_matcher(*, label_selector: str, field_selector: str) -> Callable[[Obj], bool]:
    """A predicate for `?labelSelector=` / `?fieldSelector=`; only empty selectors for now."""
    if label_selector:
        raise not_yet("labelSelector")
    if field_selector:
        raise not_yet("fieldSelector")
    return lambda _obj: True


def apply_patch(*, current: Obj, patch: bytes, content_type: str, kind: str, manager: str) -> Obj:
    """The object after `patch`; the patch module supplies every type."""
    del current, patch, kind, manager
    raise not_yet(f"PATCH ({content_type})")


@dataclass(frozen=True)
class Attributes:
    """What a request does, in the terms RBAC rules are written in."""

    verb: str
    group: str
    resource: str
    subresource: str
    namespace: str
    name: str


ADMIN_GROUP = "system:masters"


# What the default ClusterRole system:basic-user grants every authenticated identity.
_SELF_REVIEWS = {
    ("authorization.k8s.io", "selfsubjectaccessreviews"),
    ("authorization.k8s.io", "selfsubjectrulesreviews"),
    ("authentication.k8s.io", "selfsubjectreviews"),
}


def allowed(*, user: str, groups: tuple[str, ...], attrs: Attributes) -> bool:
    """RBAC: system:masters may do anything, everyone may review itself; else nothing yet."""
    del user
    if attrs.verb == "create" and (attrs.group, attrs.resource) in _SELF_REVIEWS:
        return True
    return ADMIN_GROUP in groups


def impersonation(headers: Mapping[str, str]) -> None:
    """Refuse `Impersonate-*` headers (kubectl --as) until impersonation is authorized by RBAC."""
    if any(h.lower().startswith("impersonate-") for h in headers):
        raise not_yet("impersonation")
