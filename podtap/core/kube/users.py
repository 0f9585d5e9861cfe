"""Who a request is from: user info, the well-known groups, service-account user names.

Authentication (tokens, certificates) is the server's business; what it yields is a
:class:`UserInfo`, the ``user.Info`` of kube-apiserver. Service accounts are users named
``system:serviceaccount:NS:NAME`` in the groups ``system:serviceaccounts`` and
``system:serviceaccounts:NS``; RBAC, impersonation and the authenticator all rely on that one
mapping, which lives here.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Final, NewType

from podtap.core.kube.label_syntax import is_dns1123_label, is_dns1123_subdomain

__all__ = [
    "ALL_AUTHENTICATED",
    "ALL_UNAUTHENTICATED",
    "ANONYMOUS",
    "SERVICE_ACCOUNTS_GROUP",
    "SYSTEM_MASTERS",
    "GroupName",
    "UserInfo",
    "UserName",
    "matches_service_account",
    "service_account_groups",
    "service_account_username",
    "split_service_account_username",
]

UserName = NewType("UserName", str)
"""An authenticated user's name (``alice``, ``system:serviceaccount:ns:sa``)."""

GroupName = NewType("GroupName", str)
"""A group a user is in (``system:masters``, ``system:authenticated``)."""

#: Members may do anything, whatever RBAC says (kube-apiserver's privileged group).
SYSTEM_MASTERS: Final = GroupName("system:masters")
ALL_AUTHENTICATED: Final = GroupName("system:authenticated")
ALL_UNAUTHENTICATED: Final = GroupName("system:unauthenticated")
ANONYMOUS: Final = UserName("system:anonymous")
SERVICE_ACCOUNTS_GROUP: Final = GroupName("system:serviceaccounts")
_SA_PREFIX: Final = "system:serviceaccount:"


@dataclass(frozen=True, slots=True)
class UserInfo:
    """``user.Info``: name, groups (in order), uid and extra attributes."""

    name: str
    groups: tuple[str, ...] = ()
    uid: str = ""
    extra: Mapping[str, tuple[str, ...]] = field(default_factory=dict)


def service_account_username(namespace: str, name: str) -> UserName:
    """``serviceaccount.MakeUsername``."""
    return UserName(f"{_SA_PREFIX}{namespace}:{name}")


def split_service_account_username(username: str) -> tuple[str, str] | None:
    """``(namespace, name)`` of a valid service-account user name, else ``None``."""
    if not username.startswith(_SA_PREFIX):
        return None
    parts = username[len(_SA_PREFIX) :].split(":")
    if len(parts) != 2:
        return None
    namespace, name = parts
    if is_dns1123_label(namespace) or is_dns1123_subdomain(name):
        return None
    return namespace, name


def service_account_groups(namespace: str) -> tuple[GroupName, ...]:
    """``serviceaccount.MakeGroupNames``: the groups every service account of ``namespace`` has."""
    return (SERVICE_ACCOUNTS_GROUP, GroupName(f"{SERVICE_ACCOUNTS_GROUP}:{namespace}"))


def matches_service_account(namespace: str, name: str, username: str) -> bool:
    """``serviceaccount.MatchesUsername``: is ``username`` the account ``namespace/name``?"""
    return username == f"{_SA_PREFIX}{namespace}:{name}"
