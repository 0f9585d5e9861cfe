"""TokenRequest: `POST .../serviceaccounts/NAME/token`, what `kubectl create token` sends.

As kube-apiserver's token REST: the account must exist; `spec.audiences` default to the
API server's own, `spec.expirationSeconds` to an hour (at least 10 minutes, at most 2^32
seconds); `spec.boundObjectRef` binds the token to a Pod (of that account), a Secret or a
Node, so it dies with it (a pod-bound token also names the pod's node). The answer is the
TokenRequest with `status.token` and `status.expirationTimestamp`; nothing is stored.
"""

from __future__ import annotations

import datetime
import time
from typing import Any

from podtap.backends.local.kubeapi.context import ApiContext
from podtap.backends.local.kubeapi.resources import ResourceType
from podtap.backends.local.kubeapi.routes import Target
from podtap.backends.local.kubeapi.status import ApiError, bad_request, not_found
from podtap.backends.local.kubeapi.store import Key, Obj
from podtap.backends.local.kubeapi.tokens import API_AUDIENCES, Ref, bound_claims

DEFAULT_EXPIRATION = 3600
_MIN, _MAX = 600, 2**32
_API_VERSION = "authentication.k8s.io/v1"


def _invalid(name: str, field: str, value: object, why: str) -> ApiError:
    message = f"{field}: Invalid value: {value}: {why}"
    cause = {"reason": "FieldValueInvalid", "message": f"Invalid value: {value}: {why}"}
    details = {
        "name": name,
        "group": "authentication.k8s.io",
        "kind": "TokenRequest",
        "causes": [{**cause, "field": field}],
    }
    return ApiError(
        422,
        "Invalid",
        f'TokenRequest.authentication.k8s.io "{name}" is invalid: {message}',
        details,
    )


def _ref_of(obj: Obj) -> Ref:
    return Ref(str(obj["metadata"]["name"]), str(obj["metadata"].get("uid", "")))


def _bound(ctx: ApiContext, *, namespace: str, account: str, ref: dict[str, Any]) -> dict[str, Ref]:
    """The refs a token bound to `ref` carries (pod and its node, secret, or node)."""
    kind, name = str(ref.get("kind", "")), str(ref.get("name", ""))
    plural = {"Pod": "pods", "Secret": "secrets", "Node": "nodes"}.get(kind)
    version = str(ref.get("apiVersion", ""))
    if plural is None or version not in ("v1", ""):
        raise bad_request(f"cannot bind token to object of type /{version}, Kind={kind}")
    rt = ctx.registry.get(group="", version="v1", plural=plural)
    assert rt is not None
    obj = ctx.store.get(Key("", plural, "" if kind == "Node" else namespace, name))
    if obj is None:
        raise not_found(rt, name)
    found = _ref_of(obj)
    if ref.get("uid") and ref["uid"] != found.uid:
        raise ApiError(
            409,
            "Conflict",
            f'Operation cannot be fulfilled on {kind}.v1 "{name}": the UID in the bound object '
            f"reference ({ref['uid']}) does not match the UID in record. The object might "
            "have been deleted and then recreated",
        )
    if kind != "Pod":
        return {kind.lower(): found}
    spec = obj.get("spec") or {}
    if spec.get("serviceAccountName", "default") != account:
        raise bad_request(
            f'cannot bind token for serviceaccount "{account}" to pod running with '
            "different serviceaccount name."
        )
    refs = {"pod": found}
    node = ctx.store.get(Key("", "nodes", "", str(spec.get("nodeName", ""))))
    if node is not None:
        refs["node"] = _ref_of(node)
    return refs


def issue(
    ctx: ApiContext,
    *,
    namespace: str,
    account: str,
    audiences: list[str] | None = None,
    expiration: int = DEFAULT_EXPIRATION,
    bound: dict[str, Any] | None = None,
    now: float | None = None,
) -> tuple[str, float]:
    """A token for NS/account (bound to `bound`, a boundObjectRef) and when it expires."""
    rt = ctx.registry.get(group="", version="v1", plural="serviceaccounts")
    assert rt is not None
    stored = ctx.store.get(Key("", "serviceaccounts", namespace, account))
    if stored is None:
        raise not_found(rt, account)
    refs = _bound(ctx, namespace=namespace, account=account, ref=bound) if bound else {}
    when = time.time() if now is None else now
    claims = bound_claims(
        namespace=namespace,
        account=_ref_of(stored),
        audiences=audiences or list(API_AUDIENCES),
        expiration=expiration,
        now=when,
        **refs,
    )
    return ctx.signer.sign(claims), float(claims["exp"])


def token_request(ctx: ApiContext, target: Target, body: Obj) -> Obj:
    """The answered TokenRequest for `target` (serviceaccounts/NAME/token)."""
    spec = dict(body.get("spec") or {})
    seconds = spec.get("expirationSeconds") or DEFAULT_EXPIRATION
    if not isinstance(seconds, int) or seconds < _MIN:
        why = "may not specify a duration less than 10 minutes"
        raise _invalid(target.name, "spec.expirationSeconds", seconds, why)
    if seconds > _MAX:
        why = "may not specify a duration larger than 2^32 seconds"
        raise _invalid(target.name, "spec.expirationSeconds", seconds, why)
    audiences = [str(a) for a in spec.get("audiences") or API_AUDIENCES]
    token, expires = issue(
        ctx,
        namespace=target.namespace,
        account=target.name,
        audiences=audiences,
        expiration=seconds,
        bound=spec.get("boundObjectRef") or None,
    )
    spec.update(audiences=audiences, expirationSeconds=seconds)
    return {
        "kind": "TokenRequest",
        "apiVersion": _API_VERSION,
        "metadata": {
            "name": target.name,
            "namespace": target.namespace,
            "creationTimestamp": _iso(time.time()),
        },
        "spec": spec,
        "status": {"token": token, "expirationTimestamp": _iso(expires)},
    }


def _iso(when: float) -> str:
    return datetime.datetime.fromtimestamp(when, datetime.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def is_token_request(rt: ResourceType, subresource: str) -> bool:
    return rt.plural == "serviceaccounts" and not rt.group and subresource == "token"
