"""The operator's HTTP API, shaped like a Kubernetes aggregated API (podtap.dev/v1)."""

from __future__ import annotations

import asyncio
import contextlib
import html
import logging
import time
from typing import Any

from aiohttp import web

from podtap import __version__
from podtap.backends.base import TargetError, TargetRef
from podtap.core.arbitration import OnConcurrentSteal
from podtap.core.ids import SessionId, parse_session_id
from podtap.core.protocol import AcceptorHandshake, CloseReason, HandshakeError
from podtap.net.wire import ConnectionClosed, WireConnection
from podtap.operator.identity import Caller, peer_caller
from podtap.operator.relay import Attachment
from podtap.operator.service import OperatorError, OperatorService

log = logging.getLogger(__name__)
API = "/apis/podtap.dev/v1"
SESSION_HEADER = "X-Podtap-Session"
CLOSE_GRACE = 1.0


def _error(status: int, message: str) -> web.Response:
    return web.json_response({"error": message}, status=status)


async def _drop(wire: WireConnection, why: str) -> None:
    """Tell the client why, then close without waiting long for its acknowledgement
    (a silent client would keep the socket for the WebSocket's close timeout)."""
    with contextlib.suppress(TimeoutError):
        async with asyncio.timeout(CLOSE_GRACE):
            await wire.close(CloseReason.PROTOCOL_ERROR, why)


class OperatorApi:
    def __init__(self, service: OperatorService) -> None:
        self.service = service

    def app(self) -> web.Application:
        app = web.Application(middlewares=[self._errors])
        app.add_routes(
            [
                web.get(f"{API}/namespaces/{{ns}}/targets", self.targets),
                web.get(f"{API}/namespaces/{{ns}}/targets/{{target}}/connect", self.connect),
                web.get(f"{API}/sessions", self.sessions),
                web.delete(f"{API}/sessions/{{id}}", self.kill),
                web.delete(f"{API}/sessions", self.kill_all),
                web.post(f"{API}/sessions/prune", self.prune),
                web.get(f"{API}/status", self.status),
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
            response: web.StreamResponse = await handler(request)
            return response
        except OperatorError as exc:
            return _error(exc.status, str(exc))

    def caller(self, request: web.Request) -> Caller:
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
        caller = self.caller(request)
        kind, _, name = request.match_info["target"].partition(".")
        q = request.query
        try:
            target = TargetRef.parse(f"{kind}/{name}")
            resume = parse_session_id(q["session"]) if q.get("session") else None
            steal = OnConcurrentSteal(q.get("on_concurrent_steal", "abort"))
        except (TargetError, ValueError) as exc:
            return _error(400, str(exc))
        ws = web.WebSocketResponse(max_msg_size=32 * 1024 * 1024)
        if not ws.can_prepare(request).ok:  # a plain GET asks why an upgrade was refused
            await self.service.check(
                caller, target=target, resume=resume, namespace=request.match_info["ns"]
            )
            return _error(400, "connect needs a WebSocket upgrade")
        opening = await self.service.open(
            caller,
            target=target,
            namespace=request.match_info["ns"],
            whoami=request.headers.get("X-Podtap-Whoami"),
            host=request.headers.get("X-Podtap-Host"),
            client_version=q.get("client_version", "unknown"),
            resume=resume,
        )
        ws.headers[SESSION_HEADER] = opening.label
        await ws.prepare(request)
        wire = WireConnection(ws, label=f"client {opening.label}")
        if not await self._hello(wire, label=opening.label):
            return ws
        record = self.service.begin(opening)
        await Attachment(
            self.service, record, wire, opening.resolved, on_concurrent_steal=steal
        ).run()
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
        return web.json_response({"items": self._session_list()})

    def _session_list(self) -> list[dict[str, Any]]:
        now = time.time()
        return [
            {**r.to_json(), "age": now - r.created}
            for r in sorted(self.service.records.values(), key=lambda r: r.created)
        ]

    async def kill(self, request: web.Request) -> web.Response:
        try:
            sid: SessionId = parse_session_id(request.match_info["id"])
        except ValueError as exc:
            return _error(400, str(exc))
        record = await self.service.kill(sid, by=self.caller(request))
        return web.json_response({"killed": [record.label]})

    async def kill_all(self, request: web.Request) -> web.Response:
        caller = self.caller(request)
        if not caller.admin:
            return _error(
                403,
                "killing every session needs admin rights "
                "(root, or a member of the operator's admin groups)",
            )
        killed = [
            await self.service.kill(r.id, by=caller) for r in list(self.service.records.values())
        ]
        return web.json_response({"killed": [r.label for r in killed]})

    async def prune(self, request: web.Request) -> web.Response:
        pruned = await self.service.prune(by=self.caller(request))
        return web.json_response({"pruned": [r.label for r in pruned]})

    async def status(self, request: web.Request) -> web.Response:
        return web.json_response(
            {
                "version": __version__,
                "uptime": time.time() - self.service.started,
                "agents": [f"{ns}/{pod}" for ns, pod in self.service.agents.links],
                "sessions": self._session_list(),
            }
        )

    async def healthz(self, request: web.Request) -> web.Response:
        return web.json_response({"ok": True})

    async def metrics(self, request: web.Request) -> web.Response:
        m, records = self.service.metrics, list(self.service.records.values())
        m.sessions.set(len(records))
        m.connected.set(len(self.service.attached))
        m.agents.set(len(self.service.agents.links))
        for mode in ("mirror", "steal"):
            m.subscriptions.labels(mode).set(
                sum(1 for r in records for s in r.subscriptions.values() if s.mode.value == mode)
            )
        return web.Response(body=m.render(), content_type="text/plain")

    async def dashboard(self, request: web.Request) -> web.Response:
        rows = "".join(
            f"<tr><td>{s['id']}</td><td>{html.escape(s['owner'])}</td>"
            f"<td>{html.escape(s['namespace'])}/{html.escape(s['target'])}</td>"
            f"<td>{html.escape(s['ports'])}</td><td>{int(s['age'])}s</td>"
            f"<td>{'yes' if s['connected'] else 'no'}</td></tr>"
            for s in self._session_list()
        )
        page = (
            "<!doctype html><html><head><meta http-equiv='refresh' content='2'>"
            f"<title>podtap operator</title></head><body><h1>podtap operator {__version__}</h1>"
            "<table border=1 cellpadding=4><tr><th>session</th><th>user</th><th>target</th>"
            f"<th>ports</th><th>age</th><th>connected</th></tr>{rows}</table></body></html>"
        )
        return web.Response(text=page, content_type="text/html")
