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
    from podtap.core.config.queues import QueueSplitConfig
    from podtap.core.exec_spec import IncomingPlan
    from podtap.core.policy.profiles import FoundProfile

API = paths.API
SESSION_HEADER = "X-Podtap-Session"
TTL_HEADER = "X-Podtap-Unused-Ttl"  # the operator's; absent from an older operator
PROFILE_HEADER = "X-Podtap-Profile"  # core.policy.profile_wire's, without importing it


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
    """unix:/path/operator.sock, http://host:port or https://host:port: the operator itself.
    Through a kube-apiserver it is a `kube_address.KubeAddress`, which adds credentials,
    TLS and the API server's own refusals (`operator_choice` says which a command uses)."""

    value: str

    def connector(self) -> aiohttp.BaseConnector:
        if self.value.startswith("unix:"):
            return aiohttp.UnixConnector(path=self.value.removeprefix("unix:"))
        return aiohttp.TCPConnector()

    def url(self, path: str) -> str:
        base = "http://operator" if self.value.startswith("unix:") else self.value.rstrip("/")
        return base + path

    async def headers(self) -> dict[str, str]:
        """Headers each request carries (credentials, for the API server)."""
        return {}

    async def renew(self) -> bool:
        """Ask for fresh credentials after a 401; False when there is nothing to renew."""
        return False

    def request_options(self) -> dict[str, Any]:
        """aiohttp request options (proxy, server_hostname) of this address."""
        return {}

    def refusal(self, status: int, body: Any, *, method: str, path: str, reason: str) -> str:
        """The one line for a refused request (`body`: its JSON, None if it had none)."""
        if isinstance(body, dict) and "error" in body:
            return str(body["error"])
        return reason or str(status)

    def unreachable(self, why: BaseException | str) -> OperatorUnavailable:
        return OperatorUnavailable(f"cannot reach the operator at {self.value}: {why}")


@dataclass
class ClientSession:
    """A session's connection to the operator."""

    id: SessionId
    wire: WireConnection
    profile: FoundProfile | None = None  # the profile the operator applied (if one was asked)
    unused_ttl: float | None = None  # how long the operator keeps it detached, as it said

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
    *,
    on_concurrent_steal: str,
    key: str | None,
    steals: Sequence[Steal],
    profile: str | None = None,
    splits: Sequence[QueueSplitConfig] = (),
) -> dict[str, str]:
    """The query of a connect: what the operator must know of the session before it starts."""
    params = {"client_version": __version__, "on_concurrent_steal": on_concurrent_steal}
    if key is not None:
        params["key"] = key
    if profile is not None:
        params["profile"] = profile
    if steals:
        params["steals"] = json.dumps(
            [{"port": port, "filter": asdict(f) if f else None} for port, f in steals]
        )
    if splits:
        from podtap.core.queues.wire import encode_split_request  # the config models: see above

        params["split_queues"] = encode_split_request(splits)
    return params


def query(**params: str | None) -> str:
    """`?a=1&b=2` of the parameters that are set ("" when none is)."""
    given = {k: v for k, v in params.items() if v is not None}
    return "?" + urlencode(given) if given else ""


class OperatorApi:
    def __init__(self, address: OperatorAddress) -> None:
        self.address = address

    @asynccontextmanager
    async def _http(self, *, timeout: float | None = None) -> AsyncIterator[aiohttp.ClientSession]:
        limit = aiohttp.ClientTimeout(total=timeout) if timeout else aiohttp.ClientTimeout()
        async with aiohttp.ClientSession(connector=self.address.connector(), timeout=limit) as http:
            yield http

    async def call(self, method: str, path: str, *, timeout: float | None = None) -> Any:
        """The JSON answer to `method API/path` (`timeout`: seconds for all of it)."""
        try:
            async with self._http(timeout=timeout) as http:
                status, data, reason = await self._request(http, method, path)
                if status == 401 and await self.address.renew():
                    status, data, reason = await self._request(http, method, path)
        except (aiohttp.ClientConnectionError, FileNotFoundError) as exc:
            raise self.address.unreachable(exc) from None
        except TimeoutError:
            raise self.address.unreachable(f"no answer within {timeout} s") from None
        if status >= 400:
            text = self.address.refusal(status, data, method=method, path=API + path, reason=reason)
            raise OperatorRefused(status, text)
        return data

    async def _request(
        self, http: aiohttp.ClientSession, method: str, path: str
    ) -> tuple[int, Any, str]:
        """Status, JSON body (None if not JSON) and reason of one request."""
        headers = await self.address.headers()
        url = self.address.url(API + path)
        options = self.address.request_options()
        async with http.request(method, url, headers=headers, **options) as r:
            try:
                data = await r.json(content_type=None)
            except ValueError:
                data = None
            return r.status, data, r.reason or ""

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
        profile: str | None = None,
        splits: Sequence[QueueSplitConfig] = (),
    ) -> AsyncIterator[ClientSession]:
        """A session on `target`; OperatorRefused if the operator will not open it (e.g. a
        port of `steals` is held and on_concurrent_steal is abort: the message names the
        holder). With `profile` (NAME or NS/NAME), the session carries the profile the
        operator found, for the client to apply to its config. With `splits`, the operator
        splits those queues of the target's workload before it answers (a refusal says why)."""
        params = connect_params(
            on_concurrent_steal=on_concurrent_steal,
            key=key,
            steals=steals,
            profile=profile,
            splits=splits,
        )
        if resume is not None:
            params["session"] = format_session_id(resume)
        path = paths.connect_path(namespace, TargetRef.parse(target))
        url = self.address.url(path)
        try:
            async with self._http() as http:
                try:
                    ws = await self._upgrade(http, url, params=params)
                except aiohttp.WSServerHandshakeError as exc:
                    refused = SessionGone if exc.status == 410 else OperatorRefused
                    _, body, reason = await self._request(
                        http, "GET", path.removeprefix(API) + "?" + urlencode(params)
                    )
                    text = self.address.refusal(
                        exc.status, body, method="GET", path=path, reason=reason or exc.message
                    )
                    raise refused(exc.status, text) from None
                async with ws:
                    wire = WireConnection(ws, label="operator")
                    await wire.initiate(InitiatorHandshake(name="podtap", version=__version__))
                    sid = _session_id(ws, url)
                    found = _profile(ws, profile) if profile is not None else None
                    yield ClientSession(sid, wire, profile=found, unused_ttl=_ttl(ws))
                    if not ws.closed:  # a clean exit ends the session now, not after its TTL
                        await wire.close(CloseReason.CLIENT_EXITED, "the client exited")
        except (aiohttp.ClientConnectionError, FileNotFoundError) as exc:
            raise self.address.unreachable(exc) from None

    async def _upgrade(
        self, http: aiohttp.ClientSession, url: str, *, params: dict[str, str]
    ) -> aiohttp.ClientWebSocketResponse:
        """The session's WebSocket (credentials renewed once if refused with 401)."""
        for renewed in (False, True):
            headers = {
                "X-Podtap-Whoami": getpass.getuser(),
                "X-Podtap-Host": socket.gethostname(),
                **await self.address.headers(),
            }
            try:
                ws: aiohttp.ClientWebSocketResponse = await http.ws_connect(
                    url,
                    params=params,
                    headers=headers,
                    max_msg_size=0,
                    **self.address.request_options(),
                )
                return ws
            except aiohttp.WSServerHandshakeError as exc:
                if renewed or exc.status != 401 or not await self.address.renew():
                    raise
        raise AssertionError("unreachable")


def _session_id(ws: aiohttp.ClientWebSocketResponse, url: str) -> SessionId:
    """The session's id, from the upgrade's answer (a proxy must pass its headers on)."""
    why = (
        f"the upgrade of {url} was answered without the operator's {SESSION_HEADER} "
        "header: a proxy between here and the operator drops it"
    )
    return parse_session_id(_header(ws, SESSION_HEADER, missing=why))


def _ttl(ws: aiohttp.ClientWebSocketResponse) -> float | None:
    """The unused TTL the operator announced (None: it did not, or not as a number)."""
    try:
        return float(ws._response.headers[TTL_HEADER])
    except (KeyError, ValueError):
        return None


def _header(ws: aiohttp.ClientWebSocketResponse, name: str, *, missing: str) -> str:
    """Header `name` of the upgrade's answer; OperatorRefused (502, `missing`) if absent."""
    value = ws._response.headers.get(name)
    if value is None:
        raise OperatorRefused(502, missing)
    return value


def _profile(ws: aiohttp.ClientWebSocketResponse, ref: str) -> FoundProfile:
    """Profile `ref` as the operator answered the upgrade with it (OperatorRefused if it
    did not: an operator that cannot apply profiles would leave the run unaware)."""
    from podtap.core.policy.models import PolicyError
    from podtap.core.policy.profile_wire import decode_profile

    why = (
        f"the operator did not say how it applies profile {ref} (no {PROFILE_HEADER} "
        "header): upgrade the operator, or a proxy between here and it drops the header"
    )
    value = _header(ws, PROFILE_HEADER, missing=why)
    try:
        found = decode_profile(value)
    except PolicyError as exc:
        raise OperatorRefused(502, str(exc)) from None
    if found.ref != ref:
        raise OperatorRefused(502, f"asked for profile {ref}, the operator applied {found.ref}")
    return found
