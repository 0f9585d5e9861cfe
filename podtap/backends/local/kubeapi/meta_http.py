"""HTTP handlers for what is not an object: health, version, discovery, OpenAPI."""

from __future__ import annotations

import functools
from typing import Any

from aiohttp import web

from podtap.backends.local.kubeapi import discovery, openapi, openapi_v2
from podtap.backends.local.kubeapi.context import context_of
from podtap.backends.local.kubeapi.registry import Registry
from podtap.backends.local.kubeapi.resources import BUILTINS
from podtap.backends.local.kubeapi.status import path_not_found


def _json(obj: Any, *, content_type: str = "application/json") -> web.Response:
    response = web.json_response(obj)
    if content_type != "application/json":
        # aiohttp would append "; charset=utf-8"; client-go compares the media type params.
        response.headers["Content-Type"] = content_type
    return response


async def health(_request: web.Request) -> web.Response:
    return web.Response(text="ok")


async def version(_request: web.Request) -> web.Response:
    return _json(discovery.VERSION)


def _aggregated_or(request: web.Request, *, core: bool, legacy: Any) -> web.Response:
    if discovery.wants_aggregated(request.headers.get("Accept", "")):
        doc = discovery.aggregated(context_of(request).registry, core=core)
        return _json(doc, content_type=discovery.AGGREGATED_V2)
    return _json(legacy)


async def api(request: web.Request) -> web.Response:
    legacy = discovery.api_versions(server_address=context_of(request).address)
    return _aggregated_or(request, core=True, legacy=legacy)


async def apis(request: web.Request) -> web.Response:
    legacy = discovery.api_group_list(context_of(request).registry)
    return _aggregated_or(request, core=False, legacy=legacy)


async def api_group(request: web.Request) -> web.Response:
    doc = discovery.api_group(context_of(request).registry, request.match_info["group"])
    if doc is None:
        raise path_not_found()
    return _json(doc)


async def resource_list(request: web.Request) -> web.Response:
    group = request.match_info.get("group", "")
    doc = discovery.resource_list(
        context_of(request).registry, group=group, version=request.match_info["version"]
    )
    if doc is None:
        raise path_not_found()
    return _json(doc)


_BUILTIN_GVS = frozenset(r.group_version for r in BUILTINS)


@functools.cache
def _builtin_document(group: str, version: str) -> dict[str, Any]:
    types = Registry().in_group_version(group=group, version=version)
    return openapi.group_version_document(types)


def _document(registry: Registry, group: str, version: str) -> dict[str, Any] | None:
    types = registry.in_group_version(group=group, version=version)
    if not types:
        return None
    if (group, version) in _BUILTIN_GVS and all(t in BUILTINS for t in types):
        return _builtin_document(group, version)
    return openapi.group_version_document(types)


@functools.cache
def _builtin_digest(group: str, version: str) -> str:
    return openapi.digest(_builtin_document(group, version))


async def openapi_root(request: web.Request) -> web.Response:
    registry = context_of(request).registry
    paths = {}
    for group, versions in registry.groups():
        for v in versions:
            doc = _document(registry, group, v)
            if doc is None:
                continue
            builtin = doc is _builtin_document(group, v) if (group, v) in _BUILTIN_GVS else False
            digest = _builtin_digest(group, v) if builtin else openapi.digest(doc)
            path = openapi.gv_path(group, v)
            paths[path] = {"serverRelativeURL": f"/openapi/v3/{path}?hash={digest}"}
    return _json({"paths": paths})


async def openapi_gv(request: web.Request) -> web.Response:
    info = request.match_info
    doc = _document(context_of(request).registry, info.get("group", ""), info["version"])
    if doc is None:
        raise path_not_found()
    return _json(doc)


async def openapi_v2_document(request: web.Request) -> web.Response:
    """Swagger 2.0: protobuf when asked for (kubectl), else JSON, else 406 as kube-openapi."""
    accept, types = request.headers.get("Accept", ""), context_of(request).registry.all()
    if openapi_v2.wants_protobuf(accept):
        body = openapi_v2.protobuf(types)
        return web.Response(body=body, headers={"Content-Type": openapi_v2.PROTOBUF})
    if not openapi_v2.accepts_json(accept):
        return web.Response(status=406)
    return _json(openapi_v2.document(types))


def routes() -> list[web.RouteDef]:
    return [
        web.get("/healthz", health),
        web.get("/livez", health),
        web.get("/readyz", health),
        web.get("/version", version),
        web.get("/api", api),
        web.get("/api/{version}", resource_list),
        web.get("/apis", apis),
        web.get("/apis/{group}", api_group),
        web.get("/apis/{group}/{version}", resource_list),
        web.get("/openapi/v2", openapi_v2_document),
        web.get("/openapi/v3", openapi_root),
        web.get("/openapi/v3/api/{version}", openapi_gv),
        web.get("/openapi/v3/apis/{group}/{version}", openapi_gv),
    ]
