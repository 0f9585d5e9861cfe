"""Who calls an operator installed in a Kubernetes cluster: users relayed by the API server.

The operator serves HTTPS; the kube-apiserver reaches it as the ``APIService``'s backend,
presenting its front-proxy client certificate, having authenticated the user and authorized
the request by RBAC. The identity in its ``X-Remote-*`` headers is believed only on a
connection whose client certificate chains to the request-header CA (the TLS handshake
checks that: the server context trusts that CA alone) and whose common name is allowed
(`core.kube.requestheader`). Anyone else, with or without headers, is refused: 401.

Admins may end other users' sessions: a user is one when RBAC grants them the ``kill`` verb
on ``sessions`` (`core.operator_paths.KILL_ANY_VERB`), asked by a SubjectAccessReview and
kept for a few seconds, or when they are in ``system:masters``.
"""

from __future__ import annotations

import ssl
import time
from collections.abc import Mapping
from pathlib import Path
from typing import Any, Protocol

from aiohttp import web

from podtap.core import operator_paths as paths
from podtap.core.kube.forbidden import request_forbidden
from podtap.core.kube.request_info import request_info
from podtap.core.kube.requestheader import (
    NotAuthenticated,
    RequestHeaderConfig,
    identity_from_headers,
)
from podtap.core.kube.users import SYSTEM_MASTERS, UserInfo
from podtap.core.sessions import kube_principal
from podtap.operator.identity import Caller
from podtap.operator.settings import OperatorError

ADMIN_CACHE_SECONDS = 10.0


class AccessReviewer(Protocol):
    async def allowed(self, user: UserInfo, *, verb: str, group: str, resource: str) -> bool:
        """Whether RBAC lets `user` do `verb` on `resource` (a SubjectAccessReview)."""
        ...

    async def allows(self, user: UserInfo, attributes: dict[str, str]) -> bool:
        """Whether RBAC allows `user` these `resourceAttributes`."""
        ...


class TokenAuthenticator(Protocol):
    async def user(self, token: str) -> UserInfo | None:
        """The user a bearer token is, or None (a TokenReview)."""
        ...


def server_ssl(*, tls_dir: Path, config: RequestHeaderConfig) -> ssl.SSLContext:
    """The serving context: the operator's certificate, and client certificates verified
    against the request-header CA when given (probes come without one)."""
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    try:
        context.load_cert_chain(tls_dir / "tls.crt", tls_dir / "tls.key")
    except (OSError, ssl.SSLError) as exc:
        raise OperatorError(
            500, f"cannot load the serving certificate from {tls_dir} (tls.crt, tls.key): {exc}"
        ) from None
    context.load_verify_locations(cadata=config.client_ca_pem)
    context.verify_mode = ssl.CERT_OPTIONAL
    return context


def _common_name(peer: Mapping[str, Any] | None) -> str | None:
    """The CN of a verified peer certificate (`SSLObject.getpeercert()`), None if none."""
    if not peer:
        return None
    for rdn in peer.get("subject", ()):
        for key, value in rdn:
            if key == "commonName":
                return str(value)
    return None


class FrontProxyIdentity:
    """`Caller`s of requests relayed by the API server, and — when `tokens` is given — of
    requests that reach the operator past it (a port-forward to its pod, where no
    APIService may be registered): those prove who they are with a bearer token the API
    server reviews, and are authorized here by a SubjectAccessReview of what their path asks,
    as the aggregator would have."""

    def __init__(
        self,
        config: RequestHeaderConfig,
        reviewer: AccessReviewer,
        *,
        tokens: TokenAuthenticator | None = None,
    ) -> None:
        self.config = config
        self._reviewer = reviewer
        self._tokens = tokens
        self._admins: dict[tuple[str, tuple[str, ...]], tuple[float, bool]] = {}

    async def caller(self, request: web.Request) -> Caller:
        peer = request.transport.get_extra_info("peercert") if request.transport else None
        cn = _common_name(peer)
        bearer = request.headers.get("Authorization", "")
        if cn is None and self._tokens is not None and bearer.startswith("Bearer "):
            user = await self._token_user(request, bearer.removeprefix("Bearer ").strip())
        else:
            try:
                user = identity_from_headers(
                    request.headers.items(), config=self.config, client_common_name=cn
                )
            except NotAuthenticated as exc:
                raise OperatorError(401, f"Unauthorized: {exc}") from None
        return Caller(
            principal=kube_principal(user.name),
            name=user.name,
            admin=await self._is_admin(user),
            groups=user.groups,
        )

    async def _token_user(self, request: web.Request, token: str) -> UserInfo:
        assert self._tokens is not None
        user = await self._tokens.user(token)
        if user is None:
            raise OperatorError(401, "Unauthorized: the API server does not accept this token")
        query = {k: request.query.getall(k) for k in request.query}
        info = request_info(request.method, request.path, query)
        if info.is_resource_request and not await self._reviewer.allows(
            user, info.resource_attributes()
        ):
            raise OperatorError(403, request_forbidden(info.attributes(user)).message)
        return user

    async def _is_admin(self, user: UserInfo) -> bool:
        if SYSTEM_MASTERS in user.groups:
            return True
        key = (user.name, user.groups)
        now = time.monotonic()
        cached = self._admins.get(key)
        if cached is not None and now - cached[0] < ADMIN_CACHE_SECONDS:
            return cached[1]
        allowed = await self._reviewer.allowed(
            user, verb=paths.KILL_ANY_VERB, group=paths.GROUP, resource="sessions"
        )
        self._admins[key] = (now, allowed)
        return allowed
