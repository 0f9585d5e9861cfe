"""The service-account token authenticator: a bound JWT to the account it speaks for.

As kube-apiserver's: the signature and times are the key's (`tokens.Signer`); then the
objects the token is bound to must still be there with the uids in its claims — the account,
and the pod or secret named — else it has been invalidated (the pod was deleted, the account
recreated). The identity is `system:serviceaccount:NS:NAME` with the account groups and, for
a pod-bound token, the extra `authentication.kubernetes.io/pod-name` and `pod-uid` (and
node-name, credential-id) that admission webhooks and the node authorizer read.
"""

from __future__ import annotations

import time
from typing import Any

from podtap.backends.local.kubeapi.auth import Identity, TokenAnswer
from podtap.backends.local.kubeapi.serviceaccounts import account_identity
from podtap.backends.local.kubeapi.store import Key, Store
from podtap.backends.local.kubeapi.tokens import (
    LEEWAY,
    Claims,
    Signer,
    TokenInvalid,
    audiences_of,
    go_quoted,
    parse_time,
)

_EXTRA = "authentication.kubernetes.io/"
_INVALIDATED = "service account token has been invalidated"


class BoundTokens:
    """Authenticates the tokens `signer` made against the objects in `store`."""

    def __init__(self, store: Store, signer: Signer) -> None:
        self.store = store
        self.signer = signer

    def review(self, token: str, audiences: tuple[str, ...]) -> TokenAnswer | None:
        """None when the token is not a service-account JWT of this cluster."""
        try:
            claims = self.signer.verify(token)
            if claims is None:
                return None
            return self._answer(claims, audiences)
        except TokenInvalid as e:
            return TokenAnswer(None, error=f"[invalid bearer token, {e}]")

    def _answer(self, claims: Claims, audiences: tuple[str, ...]) -> TokenAnswer:
        now = time.time()
        theirs = audiences_of(claims)
        common = tuple(a for a in audiences if a in theirs)
        if not common:
            raise TokenInvalid(
                f"token audiences {go_quoted(theirs)} is invalid for the target audiences "
                f"{go_quoted(audiences)}"
            )
        kube: dict[str, Any] = claims.get("kubernetes.io") or {}
        namespace = str(kube.get("namespace", ""))
        account = kube.get("serviceaccount") or {}
        name = str(account.get("name"))
        stored = self.store.get(Key("", "serviceaccounts", namespace, name))
        if stored is None:
            raise TokenInvalid(f'serviceaccount "{name}" not found')
        _check(stored, account, what="service account UID ({}) does not match claim ({})")
        if _deleted(stored, now=now):
            raise TokenInvalid(f"service account {namespace}/{name} has been deleted")
        # A pod-bound token names the pod's node only to tell (node-name extra); a token
        # bound to a Node itself dies with it.
        bound = ["pod", "secret"] if "pod" in kube else ["node", "secret"]
        for field in bound:
            ref = kube.get(field)
            if ref is None:
                continue
            where = "" if field == "node" else namespace
            obj = self.store.get(Key("", f"{field}s", where, str(ref.get("name"))))
            if obj is None or _deleted(obj, now=now):
                raise TokenInvalid(_INVALIDATED)
            what = f"{field} UID ({{}}) does not match service account {field} ref claim ({{}})"
            _check(obj, ref, what=what)
        who = account_identity(namespace, str(account["name"]))
        identity = Identity(who.user, who.groups, _extra(claims, kube), str(account["uid"]))
        return TokenAnswer(identity, common)


def _check(obj: dict[str, Any], ref: dict[str, Any], *, what: str) -> None:
    """The stored object is the one the claim names (same uid), else `what` with both."""
    uid = obj["metadata"].get("uid")
    if uid != ref.get("uid"):
        raise TokenInvalid(what.format(uid, ref.get("uid")))


def _deleted(obj: dict[str, Any], *, now: float) -> bool:
    """Deleted longer ago than the leeway (a pod in its grace period still counts)."""
    stamp = obj["metadata"].get("deletionTimestamp")
    return bool(stamp) and parse_time(str(stamp)) < now - LEEWAY


def _extra(claims: Claims, kube: dict[str, Any]) -> dict[str, tuple[str, ...]]:
    extra: dict[str, tuple[str, ...]] = {}
    if claims.get("jti"):
        extra[_EXTRA + "credential-id"] = (f"JTI={claims['jti']}",)
    for field in ("node", "pod"):
        ref = kube.get(field)
        if isinstance(ref, dict):
            extra[f"{_EXTRA}{field}-name"] = (str(ref.get("name", "")),)
            extra[f"{_EXTRA}{field}-uid"] = (str(ref.get("uid", "")),)
    return extra
