"""What every handler of one API server shares: the types, the objects, the identities."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from aiohttp import web

from podtap.backends.local.kubeapi.auth import TokenAnswer, TokenBook
from podtap.backends.local.kubeapi.authz import RbacIndex
from podtap.backends.local.kubeapi.registry import Registry
from podtap.backends.local.kubeapi.store import Store
from podtap.backends.local.kubeapi.tokenauth import BoundTokens
from podtap.backends.local.kubeapi.tokens import Signer


@dataclass
class ApiContext:
    """The state of one API server; the node will own it and mount the app on it."""

    store: Store = field(default_factory=Store)
    registry: Registry = field(default_factory=Registry)
    tokens: TokenBook = field(default_factory=TokenBook)
    # The service-account signing key: bound tokens are its JWTs (TokenRequest, the node).
    signer: Signer = field(default_factory=Signer.ephemeral)
    # host:port clients reach the server at (serverAddressByClientCIDRs); set once bound.
    address: str = ""
    # The longest a watch runs when the client gives no timeoutSeconds (kube: 30-60 min).
    watch_timeout: float = 1800.0
    # How often a watch that allows bookmarks gets one (kube-apiserver: about a minute).
    bookmark_interval: float = 60.0
    # Set when the server stops, so open watches end instead of holding the shutdown.
    closing: asyncio.Event = field(default_factory=asyncio.Event)
    # Checks of the one who runs the objects (the node: what it cannot run), after the
    # schema admission of every create and update of a main resource: (kind, object); each
    # raises an ApiError (422 Invalid) to refuse.
    admission_checks: list[Callable[[str, dict[str, Any]], None]] = field(default_factory=list)
    # The RBAC objects of `store` as the authorizer reads them.
    rbac: RbacIndex = field(init=False)

    def __post_init__(self) -> None:
        self.rbac = RbacIndex(self.store)
        self.tokens.verifiers.append(self._bound_token)

    def _bound_token(self, token: str, audiences: tuple[str, ...]) -> TokenAnswer | None:
        return BoundTokens(self.store, self.signer).review(token, audiences)


CONTEXT = web.AppKey("kubeapi", ApiContext)


def context_of(request: web.Request) -> ApiContext:
    return request.app[CONTEXT]
