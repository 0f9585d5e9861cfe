"""Impersonation (``kubectl --as``): the checks kube-apiserver makes and the identity that results.

The ``Impersonate-User``, ``Impersonate-Group`` (repeatable), ``Impersonate-Uid`` and
``Impersonate-Extra-KEY`` headers each become one thing the requester must be allowed to
``impersonate``: ``users``, ``serviceaccounts`` (in the account's namespace, when the user name
is ``system:serviceaccount:NS:NAME``), ``groups``, ``uids`` and ``userextras/KEY`` (the last two
in ``authentication.k8s.io``), named by the value asked for. The first refusal is the whole
answer: ``users "bob" is forbidden: User "alice" cannot impersonate resource "users" in API
group "" at the cluster scope``. Groups, UID or extras without a user are a 400. The result is
the user asked for with the groups asked for (a service account's own groups when none are),
plus ``system:authenticated`` unless ``system:authenticated`` or ``system:unauthenticated`` is
among them (``system:unauthenticated`` for ``system:anonymous``), as
``filters/impersonation.go`` builds it.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Final
from urllib.parse import unquote

from podtap.core.kube.forbidden import request_forbidden
from podtap.core.kube.rbac import Attributes, Policy, authorize
from podtap.core.kube.refusal import bad_request
from podtap.core.kube.users import (
    ALL_AUTHENTICATED,
    ALL_UNAUTHENTICATED,
    ANONYMOUS,
    UserInfo,
    service_account_groups,
    service_account_username,
    split_service_account_username,
)

__all__ = ["ImpersonationRequest", "impersonate", "impersonation_requests"]

_USER: Final = "impersonate-user"
_GROUP: Final = "impersonate-group"
_UID: Final = "impersonate-uid"
_EXTRA: Final = "impersonate-extra-"
_AUTHN_GROUP: Final = "authentication.k8s.io"
_AUTHN_VERSION: Final = "authentication.k8s.io/v1"
_BAD_ESCAPE: Final = re.compile(r"%(?![0-9A-Fa-f]{2})")


@dataclass(frozen=True, slots=True)
class ImpersonationRequest:
    """One thing asked for: ``kind`` is ``User``, ``ServiceAccount``, ``Group``, ``UserExtra``
    or ``UID``; ``key`` is the extra's key."""

    kind: str
    name: str
    namespace: str = ""
    key: str = ""

    def attributes(self, requester: UserInfo) -> Attributes:
        """What the requester must be allowed, to be granted this."""
        resource, group, subresource = {
            "User": ("users", "", ""),
            "ServiceAccount": ("serviceaccounts", "", ""),
            "Group": ("groups", "", ""),
            "UserExtra": ("userextras", _AUTHN_GROUP, self.key),
            "UID": ("uids", _AUTHN_GROUP, ""),
        }[self.kind]
        return Attributes(
            requester,
            "impersonate",
            api_group=group,
            resource=resource,
            subresource=subresource,
            name=self.name,
            namespace=self.namespace,
            api_version="v1" if group else "",
        )

    def go_string(self) -> str:
        """Go's ``%v`` of the ``v1.ObjectReference`` the server builds (for its 400 message)."""
        version = _AUTHN_VERSION if self.kind in ("UserExtra", "UID") else ""
        fields = (self.kind, self.namespace, self.name, "", version, "", self.key)
        return "{" + " ".join(fields) + "}"


def _unescape_key(key: str) -> str:
    """``url.PathUnescape``, keeping the key as sent when its escapes are malformed."""
    return key if _BAD_ESCAPE.search(key) else unquote(key)


def impersonation_requests(headers: Sequence[tuple[str, str]]) -> list[ImpersonationRequest]:
    """Everything the headers ask to impersonate, in the order the server checks it.

    ``headers`` are ``(name, value)`` pairs as received (names in any case). Extras come in
    key order. Raises the server's 400 for groups, extras or a UID without a user.
    """
    lowered = [(name.lower(), value) for name, value in headers]
    requests: list[ImpersonationRequest] = []
    user = next((value for name, value in lowered if name == _USER), "")
    if user:
        account = split_service_account_username(user)
        if account is None:
            requests.append(ImpersonationRequest("User", user))
        else:
            requests.append(ImpersonationRequest("ServiceAccount", account[1], account[0]))
    requests.extend(
        ImpersonationRequest("Group", value) for name, value in lowered if name == _GROUP
    )
    extras = [(name, value) for name, value in lowered if name.startswith(_EXTRA)]
    for name, value in sorted(extras, key=lambda pair: pair[0]):
        requests.append(
            ImpersonationRequest("UserExtra", value, key=_unescape_key(name[len(_EXTRA) :]))
        )
    uid = next((value for name, value in lowered if name == _UID), "")
    if uid:
        requests.append(ImpersonationRequest("UID", uid))
    if requests and not user:
        listed = "[" + " ".join(r.go_string() for r in requests) + "]"
        raise bad_request(f"requested {listed} without impersonating a user")
    return requests


def impersonate(
    requester: UserInfo, headers: Sequence[tuple[str, str]], *, policy: Policy
) -> UserInfo | None:
    """The identity the request runs as, ``None`` when it asks for no impersonation.

    Raises :class:`~podtap.core.kube.refusal.Refusal`: 400 for malformed headers, 403 (the
    server's message) for the first thing ``requester`` may not impersonate.
    """
    requests = impersonation_requests(headers)
    if not requests:
        return None
    groups_given = any(r.kind == "Group" for r in requests)
    username, uid = "", ""
    groups: list[str] = []
    extra: dict[str, tuple[str, ...]] = {}
    for request in requests:
        attrs = request.attributes(requester)
        decision = authorize(attrs, policy=policy)
        if not decision.allowed:
            raise request_forbidden(attrs, decision.reason)
        if request.kind == "ServiceAccount":
            username = service_account_username(request.namespace, request.name)
            if not groups_given:
                groups = list(service_account_groups(request.namespace))
        elif request.kind == "User":
            username = request.name
        elif request.kind == "Group":
            groups.append(request.name)
        elif request.kind == "UserExtra":
            extra[request.key] = (*extra.get(request.key, ()), request.name)
        else:
            uid = request.name
    if username != ANONYMOUS:
        if ALL_AUTHENTICATED not in groups and ALL_UNAUTHENTICATED not in groups:
            groups.append(ALL_AUTHENTICATED)
    elif ALL_UNAUTHENTICATED not in groups:
        groups.append(ALL_UNAUTHENTICATED)
    return UserInfo(username, tuple(groups), uid, extra)
