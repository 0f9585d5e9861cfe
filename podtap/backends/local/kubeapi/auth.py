"""Authentication: who is calling, from a TLS client certificate or a bearer token.

kube-apiserver's two everyday authenticators: an x509 client certificate signed by the
cluster CA (CN = user, each O = a group) and a bearer token (a static token file; service
account JWTs through the book's verifiers, `tokenauth.py`). A request with neither is
anonymous and is refused with the 401 Status a server with `--anonymous-auth=false` gives,
except the health endpoints that probes call without credentials. Every authenticated
identity gets `system:authenticated`, as there.
"""

from __future__ import annotations

import hmac
import secrets
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

from aiohttp import web
from aiohttp.typedefs import Middleware

from podtap.backends.local.kubeapi.status import ApiError, unauthorized
from podtap.backends.local.kubeapi.tokens import API_AUDIENCES

_PUBLIC = frozenset({"/healthz", "/livez", "/readyz"})


@dataclass(frozen=True)
class Identity:
    """An authenticated user and its groups."""

    user: str
    groups: tuple[str, ...] = ()
    extra: dict[str, tuple[str, ...]] = field(default_factory=dict, compare=False, hash=False)
    uid: str = field(default="", compare=False)  # a service account's, as upstream gives


@dataclass(frozen=True)
class TokenAnswer:
    """What a token authenticator says: who (None: not authenticated), for which of the
    audiences asked, and why not (TokenReview's status.error)."""

    identity: Identity | None
    audiences: tuple[str, ...] = ()
    error: str = ""


Verifier = Callable[[str, tuple[str, ...]], TokenAnswer | None]
"""verifier(token, audiences) -> an answer, or None when the token is not its kind."""


class TokenBook:
    """Bearer tokens the server accepts: static ones (each maps to one identity), then the
    verifiers' (service-account JWTs)."""

    def __init__(self) -> None:
        self._tokens: dict[str, Identity] = {}
        self.verifiers: list[Verifier] = []

    def issue(self, identity: Identity) -> str:
        token = secrets.token_urlsafe(32)
        self._tokens[token] = identity
        return token

    def add(self, token: str, identity: Identity) -> None:
        self._tokens[token] = identity

    def remove(self, token: str) -> None:
        self._tokens.pop(token, None)

    def lookup(self, token: str) -> Identity | None:
        """Who `token` authenticates as to this API server (its own audiences)."""
        return self.review(token).identity

    def review(self, token: str, audiences: tuple[str, ...] = ()) -> TokenAnswer:
        """As TokenReview answers: `audiences` empty means the API server's own."""
        wanted = audiences or API_AUDIENCES
        for known, identity in self._tokens.items():
            if hmac.compare_digest(known, token):  # constant time: tokens are secrets
                # Static tokens know no audience: they are good for the server's own.
                ok = any(a in API_AUDIENCES for a in wanted)
                return TokenAnswer(identity if ok else None, wanted if ok else ())
        for verify in self.verifiers:
            answer = verify(token, wanted)
            if answer is not None:
                return answer
        return TokenAnswer(None, error="invalid bearer token")


def _from_cert(peercert: dict[str, Any] | None) -> Identity | None:
    """The identity in a verified client certificate (ssl gives the subject as RDN tuples)."""
    if not peercert:
        return None
    user, groups = "", []
    for rdn in peercert.get("subject", ()):
        for attr, value in rdn:
            if attr == "commonName":
                user = value
            elif attr == "organizationName":
                groups.append(value)
    return Identity(user, tuple(groups)) if user else None


def authenticate(request: web.Request, tokens: TokenBook) -> Identity | None:
    header = request.headers.get("Authorization", "")
    if header[:7].lower() == "bearer ":
        # A wrong token is 401 even with a good certificate: kube-apiserver tries the token
        # authenticator and fails the request when it says no.
        return tokens.lookup(header[7:].strip())
    transport = request.transport
    ssl_object = transport.get_extra_info("ssl_object") if transport else None
    return _from_cert(ssl_object.getpeercert() if ssl_object is not None else None)


def with_authenticated(identity: Identity) -> Identity:
    groups = identity.groups
    if "system:authenticated" not in groups:
        groups = (*groups, "system:authenticated")
    return Identity(identity.user, groups, identity.extra, identity.uid)


Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]
IDENTITY = web.RequestKey("identity", Identity)  # set by the middleware


def authentication(tokens: TokenBook) -> Middleware:
    """Middleware putting the caller's Identity in request[IDENTITY], or answering 401."""

    @web.middleware
    async def middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
        if request.path in _PUBLIC:
            return await handler(request)
        identity = authenticate(request, tokens)
        if identity is None:
            raise unauthorized()
        request[IDENTITY] = with_authenticated(identity)
        return await handler(request)

    return middleware


def identity_of(request: web.Request) -> Identity:
    found = request.get(IDENTITY)
    if not isinstance(found, Identity):
        raise unauthorized()
    return found


__all__ = ["ApiError", "Identity", "TokenBook", "authentication", "identity_of"]
