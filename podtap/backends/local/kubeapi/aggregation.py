"""The aggregation layer: an APIService's group/version served by a Service's endpoint.

As kube-aggregator does, a request under `/apis/GROUP/VERSION` whose APIService
(`VERSION.GROUP`) names a Service is authorized here first (the RBAC attributes read from
the path, as kube-apiserver's RequestInfo does), then proxied over TLS to a ready endpoint of
that Service: the server is verified with the APIService's `caBundle` as
`NAME.NAMESPACE.svc` (unless `insecureSkipTLSVerify`), this server presents its front-proxy
client certificate, the caller's credentials are dropped and its identity is passed as
`X-Remote-User`, `X-Remote-Group` and `X-Remote-Extra-KEY`. WebSocket upgrades are relayed
message by message. Without a front-proxy certificate (the app run on its own) or a ready
endpoint the answer is 503 ServiceUnavailable, as there.
"""

from __future__ import annotations

import asyncio
import base64
import json
import ssl
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import quote

import aiohttp
from aiohttp import web
from aiohttp.typedefs import Middleware

from podtap.backends.local.kubeapi import aggregated_discovery as merged
from podtap.backends.local.kubeapi.auth import Handler, Identity, identity_of
from podtap.backends.local.kubeapi.authz import check, user_info
from podtap.backends.local.kubeapi.context import context_of
from podtap.backends.local.kubeapi.discovery import api_group
from podtap.backends.local.kubeapi.status import ApiError
from podtap.backends.local.kubeapi.store import Key, Obj, Store
from podtap.core.kube.rbac import Attributes
from podtap.core.kube.request_info import request_info
from podtap.net.tasks import TaskSet

APISERVICES = ("apiregistration.k8s.io", "apiservices")
_DROP = frozenset(
    {
        "authorization",
        "host",
        "connection",
        "keep-alive",
        "transfer-encoding",
        "upgrade",
        "proxy-connection",
        "te",
        "trailer",
        "content-length",
    }
)
_WS_HEADERS = frozenset({"sec-websocket-key", "sec-websocket-version", "sec-websocket-extensions"})
_WS_ANSWER = frozenset(
    {"sec-websocket-accept", "sec-websocket-protocol", "sec-websocket-extensions", "date", "server"}
)


@dataclass(frozen=True)
class FrontProxy:
    """The client certificate this server presents to aggregated API servers."""

    cert: Path
    key: Path


FRONT_PROXY = web.AppKey("front-proxy", FrontProxy)


def api_service(store: Store, *, group: str, version: str) -> Obj | None:
    """The APIService for group/version, when a Service serves it (not a local one)."""
    found = store.get(Key(*APISERVICES, "", f"{version}.{group}"))
    if found is None or not (found.get("spec") or {}).get("service"):
        return None
    return found


def endpoint(store: Store, service: dict[str, Any]) -> tuple[str, int] | None:
    """A ready address of the Service and the target port of its port `service.port`."""
    ns, name, port = service["namespace"], service["name"], int(service.get("port") or 443)
    svc = store.get(Key("", "services", ns, name))
    eps = store.get(Key("", "endpoints", ns, name))
    if svc is None or eps is None:
        return None
    ports = (svc.get("spec") or {}).get("ports") or []
    port_name = next((p.get("name") for p in ports if p.get("port") == port), None)
    for subset in eps.get("subsets") or []:
        target = next(
            (p["port"] for p in subset.get("ports") or [] if p.get("name") == port_name), None
        )
        if subset.get("addresses") and target is not None:
            return str(subset["addresses"][0]["ip"]), int(target)
    return None


def attributes(identity: Identity, request: web.Request) -> Attributes:
    """The RBAC attributes of a resource request under /apis/GROUP/VERSION/..., read as
    kube-apiserver reads them (a `proxy/` segment makes the verb `proxy`)."""
    query = {k: request.query.getall(k) for k in request.query}
    return request_info(request.method, request.path, query).attributes(user_info(identity))


def remote_headers(identity: Identity) -> list[tuple[str, str]]:
    headers = [("X-Remote-User", identity.user)]
    headers += [("X-Remote-Group", g) for g in identity.groups]
    for key, values in identity.extra.items():
        headers += [(f"X-Remote-Extra-{quote(key, safe='')}", v) for v in values]
    return headers


def client_ssl(apiservice: Obj, front: FrontProxy) -> ssl.SSLContext:
    spec = apiservice.get("spec") or {}
    ctx = ssl.create_default_context(ssl.Purpose.SERVER_AUTH)
    if spec.get("insecureSkipTLSVerify"):
        ctx.check_hostname = False
        ctx.verify_mode = ssl.CERT_NONE
    else:
        bundle = base64.b64decode(spec.get("caBundle") or "").decode()
        if not bundle:
            raise ApiError(503, "ServiceUnavailable", "the APIService has no caBundle")
        ctx.load_verify_locations(cadata=bundle)
    ctx.load_cert_chain(front.cert, front.key)
    return ctx


def _outgoing(request: web.Request, identity: Identity) -> list[tuple[str, str]]:
    kept = [
        (k, v)
        for k, v in request.headers.items()
        if k.lower() not in _DROP
        and k.lower() not in _WS_HEADERS
        and not k.lower().startswith(("impersonate-", "x-remote-"))
    ]
    return kept + remote_headers(identity)


async def _relay_ws(
    client: web.WebSocketResponse, backend: aiohttp.ClientWebSocketResponse
) -> None:
    async def pump(src: Any, dst: Any) -> None:
        async for msg in src:
            if msg.type == aiohttp.WSMsgType.TEXT:
                await dst.send_str(msg.data)
            elif msg.type == aiohttp.WSMsgType.BINARY:
                await dst.send_bytes(msg.data)
            else:
                break
        await dst.close()

    tasks = TaskSet()
    try:
        await asyncio.gather(
            tasks.spawn(pump(client, backend), name="aggregated ws: client to backend"),
            tasks.spawn(pump(backend, client), name="aggregated ws: backend to client"),
        )
    finally:
        await tasks.close()


async def _proxy(
    request: web.Request, *, apiservice: Obj, front: FrontProxy, identity: Identity
) -> web.StreamResponse:
    service = apiservice["spec"]["service"]
    ctx = context_of(request)
    target = endpoint(ctx.store, service)
    if target is None:
        raise ApiError(
            503,
            "ServiceUnavailable",
            f'no endpoints available for service "{service["namespace"]}/{service["name"]}"',
        )
    ip, port = target
    url = f"https://{ip}:{port}{request.rel_url}"
    ssl_ctx = client_ssl(apiservice, front)
    server_name = f"{service['name']}.{service['namespace']}.svc"
    headers = _outgoing(request, identity)
    timeout = aiohttp.ClientTimeout(total=None, sock_connect=10)
    async with aiohttp.ClientSession(timeout=timeout, auto_decompress=False) as session:
        if request.headers.get("Upgrade", "").lower() == "websocket":
            protocols = [
                p.strip()
                for p in request.headers.get("Sec-WebSocket-Protocol", "").split(",")
                if p.strip()
            ]
            plain = [(k, v) for k, v in headers if k.lower() != "sec-websocket-protocol"]
            try:
                backend = await session.ws_connect(
                    url,
                    ssl=ssl_ctx,
                    server_hostname=server_name,
                    protocols=protocols,
                    headers=plain,
                )
            except aiohttp.WSServerHandshakeError as exc:
                # the backend refused the upgrade: its answer reaches the client, as the
                # upgrade-aware proxy of kube-apiserver passes it on
                return web.Response(status=exc.status, text=exc.message)
            async with backend:
                client = web.WebSocketResponse(
                    protocols=[backend.protocol] if backend.protocol else ()
                )
                # the backend's own answer headers go back with the 101 (the operator names
                # the session it opened in one), as a real aggregator relays the handshake
                for k, v in backend._response.headers.items():
                    if k.lower() not in _DROP and k.lower() not in _WS_ANSWER:
                        client.headers.add(k, v)
                await client.prepare(request)
                await _relay_ws(client, backend)
                return client
        async with session.request(
            request.method,
            url,
            headers=headers,
            data=request.content if request.body_exists else None,
            ssl=ssl_ctx,
            server_hostname=server_name,
            allow_redirects=False,
        ) as answer:
            response = web.StreamResponse(status=answer.status, reason=answer.reason)
            for k, v in answer.headers.items():
                if k.lower() not in _DROP:
                    response.headers.add(k, v)
            await response.prepare(request)
            async for chunk in answer.content.iter_any():
                await response.write(chunk)
            await response.write_eof()
            return response


async def _resource_list(apiservice: Obj, *, store: Store, front: FrontProxy) -> Any:
    """The aggregated server's APIResourceList for its group/version, or None."""
    spec = apiservice["spec"]
    target = endpoint(store, spec["service"])
    if target is None:
        return None
    url = f"https://{target[0]}:{target[1]}/apis/{spec['group']}/{spec['version']}"
    headers = [("Accept", "application/json"), *remote_headers(merged.AGGREGATOR)]
    name = f"{spec['service']['name']}.{spec['service']['namespace']}.svc"
    timeout = aiohttp.ClientTimeout(total=5)
    try:
        async with (
            aiohttp.ClientSession(timeout=timeout) as session,
            session.get(
                url, headers=headers, ssl=client_ssl(apiservice, front), server_hostname=name
            ) as answer,
        ):
            return await answer.json(content_type=None) if answer.status == 200 else None
    except (aiohttp.ClientError, OSError, ssl.SSLError, ApiError, TimeoutError, ValueError):
        return None


async def _discovery(
    request: web.Request, handler: Handler, *, front: FrontProxy | None
) -> web.StreamResponse:
    """/apis and /apis/GROUP with the aggregated groups merged in."""
    ctx = context_of(request)
    groups = merged.remote_groups(ctx.store)
    parts = [p for p in request.path.split("/") if p]
    if len(parts) == 2:
        if parts[1] in groups and api_group(ctx.registry, parts[1]) is None:
            return web.json_response(merged.group_document(parts[1], groups[parts[1]]))
        return await handler(request)
    response = await handler(request)
    doc = merged.reread(response) if groups else None
    if doc is None:
        return response
    if doc.get("kind") == "APIGroupDiscoveryList":
        lists = {}
        for group, services in groups.items():
            for s in services:
                version = s["spec"]["version"]
                found = await _resource_list(s, store=ctx.store, front=front) if front else None
                lists[(group, version)] = found
        doc = merged.merge_aggregated(doc, groups, lists)
    else:
        doc = merged.merge_legacy(doc, groups)
    return web.Response(
        body=json.dumps(doc).encode(),
        headers={"Content-Type": response.headers.get("Content-Type", "application/json")},
    )


def aggregation() -> Middleware:
    """Proxy requests for aggregated group/versions; everything else goes on."""

    @web.middleware
    async def middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
        parts = [p for p in request.path.split("/") if p]
        if parts[:1] == ["apis"] and len(parts) <= 2 and request.method in ("GET", "HEAD"):
            return await _discovery(request, handler, front=request.app.get(FRONT_PROXY))
        if len(parts) < 3 or parts[0] != "apis":
            return await handler(request)
        ctx = context_of(request)
        apiservice = api_service(ctx.store, group=parts[1], version=parts[2])
        if apiservice is None:
            return await handler(request)
        identity = identity_of(request)
        if len(parts) > 3:  # discovery (/apis/G/V) is authorized by `access` already
            check(ctx.rbac, identity, attributes(identity, request))
        front = request.app.get(FRONT_PROXY)
        if front is None:
            raise ApiError(503, "ServiceUnavailable", "this server has no front-proxy client")
        try:
            return await _proxy(request, apiservice=apiservice, front=front, identity=identity)
        except (aiohttp.ClientError, OSError, ssl.SSLError) as e:
            raise ApiError(503, "ServiceUnavailable", f"error trying to reach service: {e}") from e

    return middleware
