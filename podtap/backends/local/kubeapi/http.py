"""HTTP handlers for resources: decode the request, authorize, run the verb, encode the answer.

One handler serves every `/api/v1/...` and `/apis/GROUP/VERSION/...` path: routes.resolve
names the target, the method and query give the verb (GET on a collection is list, or watch
with `watch=true|1|True`), RBAC authorizes it (`authz.check`), and the answer is the object,
a `KindList`, a Table when kubectl asks for one, or a Status from `status.ApiError`. The
`scale` subresource answers Scale objects (`scale.py`); PATCH is `patching.py`'s.
"""

from __future__ import annotations

import json
from dataclasses import replace

import yaml
from aiohttp import web

from podtap.backends.local.kubeapi import (
    authz,
    patching,
    protobuf,
    reviews,
    scale,
    streams,
    tokenrequest,
    verbs,
    watch,
)
from podtap.backends.local.kubeapi.admitting import field_validation
from podtap.backends.local.kubeapi.auth import identity_of
from podtap.backends.local.kubeapi.context import context_of
from podtap.backends.local.kubeapi.routes import Target, resolve
from podtap.backends.local.kubeapi.selection import object_matcher
from podtap.backends.local.kubeapi.status import (
    bad_request,
    method_not_allowed,
    unsupported_media_type,
)
from podtap.backends.local.kubeapi.store import Obj
from podtap.backends.local.kubeapi.table import table, wants_table
from podtap.core.kube.admission import warning_header
from podtap.core.kube.apply import manager_for
from podtap.core.kube.rbac import Attributes

_BODY_TYPES = ["application/json", "application/yaml", protobuf.CONTENT_TYPE]
_TRUE = {"true", "1", "True"}


def _truthy(value: str | None) -> bool:
    return value in _TRUE


async def body_of(request: web.Request) -> Obj:
    """The request's JSON or YAML object (kubectl sends JSON, people curl YAML)."""
    raw = await request.read()
    ctype = request.content_type
    try:
        if ctype in ("application/json", "") or ctype.endswith("+json"):
            data = json.loads(raw or b"{}")
        elif ctype == "application/yaml":
            data = yaml.safe_load(raw) or {}
        elif ctype == protobuf.CONTENT_TYPE:
            data = protobuf.decode(raw)
        else:
            raise unsupported_media_type(ctype, _BODY_TYPES)
    except (ValueError, yaml.YAMLError) as e:
        raise bad_request(f"the object provided is unrecognized: {e}") from e
    if not isinstance(data, dict):
        raise bad_request("the object provided is not a JSON or YAML object")
    return data


def _present(target: Target, obj: Obj) -> Obj:
    """The object as the requested version names it (one stored version serves all)."""
    obj["apiVersion"] = target.rt.api_version
    return obj


def _json(obj: Obj, *, status: int = 200) -> web.Response:
    return web.json_response(obj, status=status)


def _authorize(request: web.Request, target: Target, verb: str) -> None:
    who = identity_of(request)
    attrs = Attributes(
        authz.user_info(who),
        verb,
        api_group=target.rt.group,
        resource=target.rt.plural,
        subresource=target.subresource,
        name=target.name,
        namespace=target.namespace,
        api_version=target.rt.version,
    )
    authz.check(context_of(request).rbac, who, attrs)


def _verb(request: web.Request, target: Target) -> str:
    method = request.method
    if method == "GET":
        if target.is_collection:
            return "watch" if _truthy(request.query.get("watch")) else "list"
        return "get"
    collection = {"POST": "create", "DELETE": "deletecollection"}
    item = {"PUT": "update", "PATCH": "patch", "DELETE": "delete"}
    if tokenrequest.is_token_request(target.rt, target.subresource):
        item = {"POST": "create"}
    verb = (collection if target.is_collection else item).get(method)
    if verb is None or (verb not in target.rt.verbs and not target.subresource):
        raise method_not_allowed()
    return verb


def _list_options(request: web.Request) -> verbs.ListOptions:
    q = request.query
    try:
        limit = int(q.get("limit", "0") or 0)
    except ValueError as e:
        raise bad_request(f"invalid limit: {q.get('limit')}") from e
    return verbs.ListOptions(
        q.get("labelSelector", ""), q.get("fieldSelector", ""), limit, q.get("continue", "")
    )


def _render_one(request: web.Request, target: Target, obj: Obj) -> Obj:
    obj = _present(target, obj)
    if wants_table(request.headers.get("Accept", "")):
        meta = {"resourceVersion": obj["metadata"].get("resourceVersion", "")}
        return table(
            target.rt, [obj], list_meta=meta, include=request.query.get("includeObject", "Metadata")
        )
    return obj


async def _get(request: web.Request, target: Target, verb: str) -> web.StreamResponse:
    ctx = context_of(request)
    if verb == "watch":
        opts = _list_options(request)
        matches = object_matcher(
            target.rt, label_selector=opts.label_selector, field_selector=opts.field_selector
        )
        q = request.query
        timeout = float(q["timeoutSeconds"]) if q.get("timeoutSeconds") else None
        options = watch.WatchOptions(
            q.get("resourceVersion", ""),
            timeout,
            _truthy(q.get("allowWatchBookmarks")),
            _truthy(q.get("sendInitialEvents")),
        )
        return await watch.serve(
            request,
            ctx,
            target,
            options=options,
            matches=matches,
            render=lambda o: _render_one(request, target, o),
        )
    if verb == "list":
        items, meta = verbs.list_objects(ctx, target, _list_options(request))
        items = [_present(target, o) for o in items]
        if wants_table(request.headers.get("Accept", "")):
            include = request.query.get("includeObject", "Metadata")
            return _json(table(target.rt, items, list_meta=meta, include=include))
        return _json(
            {
                "kind": target.rt.list_kind,
                "apiVersion": target.rt.api_version,
                "metadata": meta,
                "items": items,
            }
        )
    if target.subresource == "scale":
        return _json(scale.get(ctx, target))
    return _json(_render_one(request, target, verbs.get(ctx, target)))


def _write_options(request: web.Request, verb: str) -> verbs.Write:
    field_manager = request.query.get("fieldManager", "")
    is_apply = verb == "patch" and request.content_type == patching.APPLY
    manager = (
        field_manager
        if is_apply
        else manager_for(field_manager, request.headers.get("User-Agent", ""))
    )
    return verbs.Write(
        dry_run=request.query.get("dryRun") == "All",
        manager=manager,
        user=authz.user_info(identity_of(request)),
        field_validation=field_validation(request.query.get("fieldValidation", "")),
    )


async def _delete_options(request: web.Request) -> Obj:
    """DeleteOptions from the body (kubectl) or the query (`?propagationPolicy=`)."""
    options = await body_of(request) if request.can_read_body else {}
    for name in ("propagationPolicy", "gracePeriodSeconds"):
        if name in request.query and name not in options:
            options[name] = request.query[name]
    return options


async def _patch(request: web.Request, target: Target, write: verbs.Write) -> web.StreamResponse:
    ctx = context_of(request)
    ctype = request.content_type
    if ctype not in patching.TYPES:
        raise unsupported_media_type(ctype, list(patching.TYPES))
    body, force = await request.read(), _truthy(request.query.get("force"))
    if target.subresource == "scale":
        current = scale.get(ctx, target)
        return _json(
            scale.write(ctx, target, patching.patched(current, json.loads(body), ctype), write)
        )
    obj, created = patching.patch(
        ctx, target, body=body, content_type=ctype, force=force, write=write
    )
    return _json(_present(target, obj), status=201 if created else 200)


async def _write(request: web.Request, target: Target, verb: str) -> web.StreamResponse:
    write = _write_options(request, verb)
    response = await _written(request, target, verb, write)
    for text in write.warnings:
        response.headers.add("Warning", warning_header(text))
    return response


async def _written(
    request: web.Request, target: Target, verb: str, write: verbs.Write
) -> web.StreamResponse:
    ctx = context_of(request)
    if verb == "create":
        body = await body_of(request)
        if tokenrequest.is_token_request(target.rt, target.subresource):
            return _json(tokenrequest.token_request(ctx, target, body), status=201)
        if target.rt.virtual:
            answer = reviews.review(
                target.rt,
                body,
                identity_of(request),
                rbac=ctx.rbac,
                tokens=ctx.tokens,
                namespace=target.namespace,
            )
            return _json(answer, status=201)
        return _json(_present(target, verbs.create(ctx, target, body, write)), status=201)
    if verb == "update":
        body = await body_of(request)
        if target.subresource == "scale":
            return _json(scale.write(ctx, target, body, write))
        return _json(_present(target, verbs.update(ctx, target, body, write)))
    if verb == "patch":
        return await _patch(request, target, write)
    options = await _delete_options(request)
    dry_run = write.dry_run or "All" in (options.get("dryRun") or ())
    if verb == "delete":
        return _json(verbs.delete(ctx, target, options, dry_run=dry_run))
    listing = replace(_list_options(request), delete=options)
    items = verbs.delete_collection(ctx, target, listing, dry_run=dry_run)
    meta = {"resourceVersion": str(ctx.store.revision)}
    return _json(
        {
            "kind": target.rt.list_kind,
            "apiVersion": target.rt.api_version,
            "metadata": meta,
            "items": items,
        }
    )


def _target(request: web.Request) -> Target:
    info = request.match_info
    group = info.get("group", "")
    version = info["version"]
    if not group and version != "v1":
        raise web.HTTPNotFound()
    rest = [p for p in info.get("rest", "").split("/") if p]
    return resolve(context_of(request).registry, group=group, version=version, rest=rest)


async def resource(request: web.Request) -> web.StreamResponse:
    """The handler of every resource path."""
    target = _target(request)
    if target.rt.plural == "pods" and target.subresource in streams.SUBRESOURCES:
        _authorize(request, target, streams.verb_of(request, target))
        return await streams.serve(request, target)
    verb = _verb(request, target)
    _authorize(request, target, verb)
    if request.method == "GET":
        return await _get(request, target, verb)
    return await _write(request, target, verb)


def routes() -> list[web.RouteDef]:
    paths = ["/api/{version}/{rest:.+}", "/apis/{group}/{version}/{rest:.+}"]
    return [web.route("*", p, resource) for p in paths]
