"""Talking to the operator: HTTP calls and session connections (used by the CLI and tests)."""

from __future__ import annotations

import getpass
import json
import socket
from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager
from dataclasses import asdict, dataclass
from typing import TYPE_CHECKING, Any
from urllib.parse import urlencode

import aiohttp

from podtap import __version__
from podtap.core import operator_paths as paths
from podtap.core.ids import Port, SessionId, format_session_id, parse_session_id
from podtap.core.protocol import CloseReason, HttpFilter, IncomingMode, InitiatorHandshake
from podtap.core.targets import TargetRef
from podtap.net.wire import WireConnection

if TYPE_CHECKING:  # the config models cost every CLI command time to import
    from podtap.core.exec_spec import IncomingPlan

API = paths.API


class OperatorUnavailable(ConnectionError):
    pass


class OperatorRefused(RuntimeError):
    def __init__(self, status: int, message: str) -> None:
        self.status = status
        super().__init__(message)


class SessionGone(OperatorRefused):
    """410: the session to resume has ended (expired, killed, or never known here)."""


@dataclass(frozen=True)
class OperatorAddress:
    """unix:/path/operator.sock or http://host:port."""

    value: str

    def connector(self) -> aiohttp.BaseConnector:
        if self.value.startswith("unix:"):
            return aiohttp.UnixConnector(path=self.value.removeprefix("unix:"))
        return aiohttp.TCPConnector()

    def url(self, path: str) -> str:
        base = "http://operator" if self.value.startswith("unix:") else self.value.rstrip("/")
        return base + path


@dataclass
class ClientSession:
    """A session's connection to the operator."""

    id: SessionId
    wire: WireConnection

    @property
    def label(self) -> str:
        return format_session_id(self.id)


Steal = tuple[Port, HttpFilter | None]
"""A port a session will steal, with the filter it steals it with (None: the whole port)."""


def planned_steals(plan: IncomingPlan) -> tuple[Steal, ...]:
    """The ports `plan` steals whatever the command listens on: the configured `ports` (else
    the pod's ports of `port_mapping`). The operator checks them at connect, so that
    on_concurrent_steal=abort stops the run before the command starts; the other ports are
    known only once the app listens, and checked when they are subscribed."""
    if plan.mode is not IncomingMode.STEAL:
        return ()
    known = plan.ports if plan.ports is not None else {r for _, r in plan.port_mapping}
    return tuple((Port(port), plan.filter_for(port)) for port in sorted(known - plan.ignore_ports))


def connect_params(
    *, on_concurrent_steal: str, key: str | None, steals: Sequence[Steal]
) -> dict[str, str]:
    """The query of a connect: what the operator must know of the session before it starts."""
    params = {"client_version": __version__, "on_concurrent_steal": on_concurrent_steal}
    if key is not None:
        params["key"] = key
    if steals:
        params["steals"] = json.dumps(
            [{"port": port, "filter": asdict(f) if f else None} for port, f in steals]
        )
    return params


def query(**params: str | None) -> str:
    """`?a=1&b=2` of the parameters that are set ("" when none is)."""
    given = {k: v for k, v in params.items() if v is not None}
    return "?" + urlencode(given) if given else ""


class OperatorApi:
    def __init__(self, address: OperatorAddress) -> None:
        self.address = address

    @asynccontextmanager
    async def _http(self) -> AsyncIterator[aiohttp.ClientSession]:
        async with aiohttp.ClientSession(connector=self.address.connector()) as http:
            yield http

    async def call(self, method: str, path: str) -> Any:
        try:
            async with (
                self._http() as http,
                http.request(method, self.address.url(API + path)) as r,
            ):
                data = await r.json()
                if r.status >= 400:
                    raise OperatorRefused(r.status, data.get("error", r.reason))
                return data
        except (aiohttp.ClientConnectionError, FileNotFoundError) as exc:
            raise OperatorUnavailable(
                f"cannot reach the operator at {self.address.value}: {exc}"
            ) from None

    @asynccontextmanager
    async def connect(
        self,
        target: str,
        *,
        namespace: str = "default",
        resume: SessionId | None = None,
        on_concurrent_steal: str = "abort",
        key: str | None = None,
        steals: Sequence[Steal] = (),
    ) -> AsyncIterator[ClientSession]:
        """A session on `target`; OperatorRefused if the operator will not open it (e.g. a
        port of `steals` is held and on_concurrent_steal is abort: the message names the
        holder)."""
        params = connect_params(on_concurrent_steal=on_concurrent_steal, key=key, steals=steals)
        if resume is not None:
            params["session"] = format_session_id(resume)
        headers = {"X-Podtap-Whoami": getpass.getuser(), "X-Podtap-Host": socket.gethostname()}
        url = self.address.url(paths.connect_path(namespace, TargetRef.parse(target)))
        try:
            async with self._http() as http:
                try:
                    ws = await http.ws_connect(url, params=params, headers=headers, max_msg_size=0)
                except aiohttp.WSServerHandshakeError as exc:
                    refused = SessionGone if exc.status == 410 else OperatorRefused
                    raise refused(
                        exc.status, await _error_text(http, url, params, headers, exc)
                    ) from None
                async with ws:
                    wire = WireConnection(ws, label="operator")
                    await wire.initiate(InitiatorHandshake(name="podtap", version=__version__))
                    sid = parse_session_id(ws._response.headers["X-Podtap-Session"])
                    yield ClientSession(sid, wire)
                    if not ws.closed:  # a clean exit ends the session now, not after its TTL
                        await wire.close(CloseReason.CLIENT_EXITED, "the client exited")
        except (aiohttp.ClientConnectionError, FileNotFoundError) as exc:
            raise OperatorUnavailable(
                f"cannot reach the operator at {self.address.value}: {exc}"
            ) from None


async def _error_text(
    http: aiohttp.ClientSession,
    url: str,
    params: dict[str, str],
    headers: dict[str, str],
    exc: aiohttp.WSServerHandshakeError,
) -> str:
    """The operator's JSON error for a refused upgrade (asked again as a plain GET)."""
    async with http.get(url, params=params, headers=headers) as r:
        try:
            return str((await r.json())["error"])
        except (aiohttp.ContentTypeError, KeyError, ValueError):
            return exc.message
