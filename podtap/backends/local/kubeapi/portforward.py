"""`pods/portforward`: not served yet."""

from __future__ import annotations

from typing import TYPE_CHECKING

from aiohttp import web

from podtap.backends.local.kubeapi.status import not_yet

if TYPE_CHECKING:
    from podtap.backends.local.kubeapi.streams import PodAccess


async def serve(
    request: web.Request, access: PodAccess, namespace: str, pod: str
) -> web.StreamResponse:
    raise not_yet("pods/portforward")
