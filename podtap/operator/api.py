"""The operator's HTTP API, a Kubernetes aggregated API (paths: `core.operator_paths`)."""

from __future__ import annotations

import asyncio
import contextlib
import html
import json
import logging
import time
from collections.abc import Awaitable, Callable, Mapping
from typing import Any

from aiohttp import web

from podtap import __version__
from podtap.backends.base import TargetError, TargetRef
from podtap.core import operator_paths as paths
from podtap.core.arbitration import OnConcurrentSteal
from podtap.core.ids import Port, SessionId, format_session_id, parse_session_id
from podtap.core.policy.profile_wire import PROFILE_HEADER, encode_profile, parse_profile_ref
from podtap.core.protocol import (
    AcceptorHandshake,
    CloseReason,
    HandshakeError,
    HttpFilter,
    InvalidHttpFilter,
)
from podtap.core.queues.wire import parse_split_request
from podtap.net.wire import ConnectionClosed, WireConnection
from podtap.operator.identity import Caller, peer_caller
from podtap.operator.records import SessionRecord, filter_from_json, record_to_json
from podtap.operator.service import ConnectOptions, OperatorError, OperatorService

log = logging.getLogger(__name__)
API = paths.API
SESSION_HEADER = "X-Podtap-Session"
#: how long a detached session is kept, so a client retries a dropped link exactly that long
TTL_HEADER = "X-Podtap-Unused-Ttl"
CLOSE_GRACE = 1.0
PUBLIC = frozenset({"/healthz", "/readyz", "/apis", f"/apis/{paths.GROUP}", API})
"""Paths anyone may ask (probes, and the discovery the aggregator reads)."""
CALLER = web.RequestKey("caller", Caller)
MAX_KEY = 256  # characters of a session key (a git branch name fits)


def _error(status: int, message: str) -> web.Response:
    return web.json_response({"error": message}, status=status)


def session_key(value: str | None) -> str | None:
    """A session key from a query (`?key=`); ValueError if it cannot be shown as one."""
    if value is None or value == "":
        return None
    if len(value) > MAX_KEY or not value.isprintable():
        raise ValueError(f"a session key is at most {MAX_KEY} printable characters")
    return value


def _steals(text: str | None) -> tuple[tuple[Port, HttpFilter | None], ...]:
    """`?steals=[{"port": 80, "filter": null | {...}}, ...]`: the ports a connect will steal
    whatever its command does; ValueError if malformed."""
    if not text:
        return ()
    try:
        items = json.loads(text)
        found = tuple((Port(int(i["port"])), filter_from_json(i.get("filter"))) for i in items)
        for port, flt in found:
            if not 0 < port < 65536:
                raise ValueError(f"port {port} is out of range")
            if flt is not None:
                flt.validate()
    except (TypeError, KeyError, AttributeError, InvalidHttpFilter) as exc:
        raise ValueError(f"steals: {exc}") from None
    return found


def connect_options(q: Mapping[str, str]) -> ConnectOptions:
    """The session-relevant part of a connect's query; ValueError if malformed."""
    profile = q.get("profile") or None
    if profile is not None:
        parse_profile_ref(profile)  # NAME or NS/NAME, as the client checked it
    return ConnectOptions(
        on_concurrent_steal=OnConcurrentSteal(q.get("on_concurrent_steal", "abort")),
        steals=_steals(q.get("steals")),
        key=session_key(q.get("key")),
        profile=profile,
        splits=parse_split_request(q.get("split_queues")),
    )


async def _drop(wire: WireConnection, why: str) -> None:
    """Tell the client why, then close without waiting long for its acknowledgement
    (a silent client would keep the socket for the WebSocket's close timeout)."""
    with contextlib.suppress(TimeoutError):
        async with asyncio.timeout(CLOSE_GRACE):
            await wire.close(CloseReason.PROTOCOL_ERROR, why)


Identify = Callable[[web.Request], Awaitable[Caller]]
"""Who a request is from (OperatorError 401 if nobody the operator believes)."""


class OperatorApi:
    def __init__(self, service: OperatorService, *, identify: Identify | None = None) -> None:
        """The API of `service`; callers are the peers of its Unix socket unless `identify`
        says otherwise (a Kubernetes operator's: users relayed by the API server)."""
        self.service = service
        self._identify = identify

    def app(self) -> web.Application:
        app = web.Application(middlewares=[self._errors])
        app.add_routes(
            [
                web.get("/apis", self.discovery_groups),
                web.get(f"/apis/{paths.GROUP}", self.discovery_group),
                web.get(API, self.discovery_resources),
                web.get(f"{API}/namespaces/{{ns}}/targets", self.targets),
                web.get(f"{API}/proxy/namespaces/{{ns}}/targets/{{target}}", self.connect),
                web.get(
                    f"{API}/proxy/namespaces/{{ns}}/targets/{{target}}/container/{{container}}",
                    self.connect,
                ),
                web.get(f"{API}/sessions", self.sessions),
                web.get(f"{API}/sessions/{{id}}", self.session),
                web.delete(f"{API}/sessions/{{id}}", self.kill),
                web.delete(f"{API}/sessions", self.kill_all),
                web.get(paths.operator_path(), self.status),
                web.get("/healthz", self.healthz),
                web.get("/readyz", self.healthz),
                web.get("/metrics", self.metrics),
                web.get("/", self.dashboard),
            ]
        )
        return app

    @web.middleware
    async def _errors(self, request: web.Request, handler: Any) -> web.StreamResponse:
        try:
            if self._identify is not None and request.path not in PUBLIC:
                request[CALLER] = await self._identify(request)  # no one unknown gets further
            response: web.StreamResponse = await handler(request)
            return response
        except OperatorError as exc:
            return _error(exc.status, str(exc))

    async def caller(self, request: web.Request) -> Caller:
        if self._identify is not None:
            known: Caller | None = request.get(CALLER)
            return known if known is not None else await self._identify(request)
        sock = request.transport.get_extra_info("socket") if request.transport else None
        return peer_caller(sock, self.service.settings.admin_groups)

    async def targets(self, request: web.Request) -> web.Response:
        found = await self.service.backend.list_targets(namespace=request.match_info["ns"])
        return web.json_response(
            {
                "items": [
                    {"target": str(t.target), "namespace": t.namespace, "ready": t.ready}
                    for t in found
                ]
            }
        )

    async def connect(self, request: web.Request) -> web.StreamResponse:
        caller = await self.caller(request)
        kind, _, name = request.match_info["target"].partition(".")
        container = request.match_info.get("container")
        q = request.query
        try:
            target = TargetRef.parse(
                f"{kind}/{name}" + (f"/container/{container}" if container else "")
            )
            resume = parse_session_id(q["session"]) if q.get("session") else None
            options = connect_options(q)
        except (TargetError, ValueError) as exc:
            return _error(400, str(exc))
        policies = self.service.policies
        options = policies.planned(options)  # no steal checked that its profile forbids
        if resume is not None and (why := policies.resume_refusal(resume, profile=options.profile)):
            return _error(409, why)
        ws = web.WebSocketResponse(max_msg_size=32 * 1024 * 1024)
        if not ws.can_prepare(request).ok:  # a plain GET asks why an upgrade was refused
            _, resolved, _ = await self.service.check(
                caller,
                target=target,
                resume=resume,
                namespace=request.match_info["ns"],
                options=options,
            )
            await self.service.splits.check(resolved, options.splits)
            return _error(400, "connect needs a WebSocket upgrade")
        opening = await self.service.open(
            caller,
            target=target,
            namespace=request.match_info["ns"],
            whoami=request.headers.get("X-Podtap-Whoami"),
            host=request.headers.get("X-Podtap-Host"),
            client_version=q.get("client_version", "unknown"),
            resume=resume,
            options=options,
        )
        ws.headers[SESSION_HEADER] = opening.label
        ws.headers[TTL_HEADER] = f"{self.service.settings.limits.unused_ttl:g}"
        if opening.rules is not None and opening.rules.profile is not None:
            # the client applies the same profile to its own config (docs/policies.md)
            ws.headers[PROFILE_HEADER] = encode_profile(opening.rules.profile)
        await ws.prepare(request)
        wire = WireConnection(ws, label=f"client {opening.label}")
        if not await self._hello(wire, label=opening.label):
            if opening.resumed is None:
                self.service.splits.leave(opening.id)  # its queues go with it
            return ws
        record = self.service.begin(opening)
        await self.service.serve(record, wire, opening.resolved, options)
        return ws

    async def _hello(self, wire: WireConnection, *, label: str) -> bool:
        """Whether the client said a valid hello within the handshake deadline. One that
        does not is dropped and leaves no trace but a debug line: thousands of silent
        connects must not flood the log any more than the records."""
        deadline = self.service.settings.limits.handshake_deadline
        try:
            async with asyncio.timeout(deadline):
                await wire.accept(AcceptorHandshake(name="podtap-operator", version=__version__))
            return True
        except TimeoutError:
            log.debug("connect %s: no hello within %.0f s, dropped", label, deadline)
            await _drop(wire, f"no hello within {deadline:.0f} s")
        except (HandshakeError, ConnectionClosed) as exc:
            log.info("session %s: handshake failed: %s", label, exc)
        return False

    async def sessions(self, request: web.Request) -> web.Response:
        return web.json_response({"items": self._session_list(self._key(request))})

    @staticmethod
    def _key(request: web.Request) -> str | None:
        """`?key=K`: only the sessions with session key K."""
        try:
            return session_key(request.query.get("key"))
        except ValueError as exc:
            raise OperatorError(400, str(exc)) from None

    def _session_list(self, key: str | None = None) -> list[dict[str, Any]]:
        now = time.time()
        return [self._row(r, now) for r in self.service.matching(key)]

    def _row(self, record: SessionRecord, now: float) -> dict[str, Any]:
        """A session as `operator status` shows it: its record, its state, and the
        hand-offs it takes part in (its ports say which are changing hands)."""
        handoffs = [
            {
                "port": h.port,
                "role": "giving" if record.id in h.holders else "taking",
                "taker": format_session_id(h.taker.session),
                "taker_user": h.taker.user,
                "holders": [format_session_id(s) for s in sorted(h.holders)],
                "due_in": max(0.0, h.due - now),
            }
            for h in self.service.book.handoffs_of(record.id)
        ]
        notes = [
            f"{h['port']} going to {h['taker_user']} in {h['due_in']:.1f} s"
            if h["role"] == "giving"
            else f"{h['port']} handed over in {h['due_in']:.1f} s"
            for h in handoffs
        ]
        row = record_to_json(record)
        ports = ", ".join(p for p in (row["ports"].removeprefix("-"), "; ".join(notes)) if p)
        return {
            **row,
            "age": now - record.created,
            "state": record.state.value,
            "handoffs": handoffs,
            "ports": ports or "-",
        }

    async def kill(self, request: web.Request) -> web.Response:
        try:
            sid: SessionId = parse_session_id(request.match_info["id"])
        except ValueError as exc:
            return _error(400, str(exc))
        record = await self.service.kill(sid, by=await self.caller(request))
        return web.json_response({"killed": [record.label]})

    async def kill_all(self, request: web.Request) -> web.Response:
        """Every session (admins), or with `?key=K` every session with that key the caller
        may kill (its own; an admin's: all); with `?detached=true` the sessions without a
        client (prune)."""
        if request.query.get("detached") in ("true", "True", "1"):
            return await self.prune(request)
        caller, key = await self.caller(request), self._key(request)
        if key is None and not caller.admin:
            return _error(
                403,
                "killing every session needs admin rights "
                "(root, or a member of the operator's admin groups)",
            )
        mine: list[SessionRecord] = [
            r for r in self.service.matching(key) if caller.admin or r.principal == caller.principal
        ]
        killed = [await self.service.kill(r.id, by=caller) for r in mine]
        return web.json_response({"killed": [r.label for r in killed]})

    async def prune(self, request: web.Request) -> web.Response:
        pruned = await self.service.prune(by=await self.caller(request))
        return web.json_response({"pruned": [r.label for r in pruned]})

    async def status(self, request: web.Request) -> web.Response:
        in_force = self.service.policies.source.snapshot()
        return web.json_response(
            {
                "version": __version__,
                "uptime": time.time() - self.service.started,
                "agents": [f"{ns}/{pod}" for ns, pod in self.service.agents.links],
                # what is in force now: how an admin (or a test) sees that a change applied
                "policies": sorted(p.label for p in in_force.policies),
                "profiles": sorted(p.label for p in in_force.profiles),
                "sessions": self._session_list(self._key(request)),
                "splits": self.service.splits.status(),
            }
        )

    async def session(self, request: web.Request) -> web.Response:
        try:
            sid: SessionId = parse_session_id(request.match_info["id"])
        except ValueError as exc:
            return _error(400, str(exc))
        record = self.service.records.get(sid)
        if record is None:
            return _error(404, f"no session {format_session_id(sid)}")
        return web.json_response(self._row(record, time.time()))

    async def discovery_groups(self, request: web.Request) -> web.Response:
        return web.json_response(
            {"kind": "APIGroupList", "apiVersion": "v1", "groups": [paths.api_group()]}
        )

    async def discovery_group(self, request: web.Request) -> web.Response:
        return web.json_response(paths.api_group())

    async def discovery_resources(self, request: web.Request) -> web.Response:
        return web.json_response(paths.api_resource_list())

    async def healthz(self, request: web.Request) -> web.Response:
        return web.json_response({"ok": True})

    async def metrics(self, request: web.Request) -> web.Response:
        m, records = self.service.metrics, list(self.service.records.values())
        m.sessions.set(len(records))
        m.connected.set(len(self.service.attached))
        m.agents.set(len(self.service.agents.links))
        self.service.splits.count()
        for mode in ("mirror", "steal"):
            m.subscriptions.labels(mode).set(
                sum(1 for r in records for s in r.subscriptions.values() if s.mode.value == mode)
            )
        return web.Response(body=m.render(), content_type="text/plain")

    async def dashboard(self, request: web.Request) -> web.Response:
        rows = "".join(
            f"<tr><td>{s['id']}</td><td>{html.escape(s['owner'])}</td>"
            f"<td>{html.escape(s['key'] or '-')}</td>"
            f"<td>{html.escape(s['namespace'])}/{html.escape(s['target'])}</td>"
            f"<td>{html.escape(s['ports'])}</td><td>{int(s['age'])}s</td>"
            f"<td>{'yes' if s['connected'] else 'no'}</td></tr>"
            for s in self._session_list()
        )
        page = (
            "<!doctype html><html><head><meta http-equiv='refresh' content='2'>"
            f"<title>podtap operator</title></head><body><h1>podtap operator {__version__}</h1>"
            "<table border=1 cellpadding=4><tr><th>session</th><th>user</th><th>key</th>"
            "<th>target</th>"
            f"<th>ports</th><th>age</th><th>connected</th></tr>{rows}</table></body></html>"
        )
        return web.Response(text=page, content_type="text/html")
