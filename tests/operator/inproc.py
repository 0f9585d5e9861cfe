"""The operator in the test's own process, on a Unix socket, over a fake cluster: for
tests of its API and bookkeeping that need neither root nor an embedded cluster."""

from __future__ import annotations

import asyncio
import http.client
import json
import socket
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

from podtap.backends.base import (
    AgentEndpoint,
    ContainerInfo,
    PodInfo,
    ResolvedTarget,
    ResourceEvent,
    TargetRef,
    TargetSummary,
)
from podtap.core.lifecycle import Limits
from podtap.operator.identity import Caller
from podtap.operator.records import SessionRecord
from podtap.operator.server import listening
from podtap.operator.service import ConnectOptions, OperatorService, OperatorSettings

ROOT = Caller(uid=0, name="root", admin=True)


class OnePodCluster:
    """Every target resolves to the same running pod; agents cannot be started (the
    tests using it never get that far)."""

    POD = PodInfo("default", "web-1", "10.0.0.2", "Running", True, {}, None, ())
    CONTAINER = ContainerInfo("app", 1, (8000,), True)

    async def list_targets(self, *, namespace: str | None = None) -> list[TargetSummary]:
        return [TargetSummary(TargetRef("deployment", "web"), "default", True)]

    async def resolve(self, target: TargetRef, *, namespace: str) -> ResolvedTarget:
        return ResolvedTarget(target, namespace, self.POD, self.CONTAINER)

    async def container_env(self, resolved: ResolvedTarget) -> dict[str, str]:
        return {}

    async def list_resources(
        self, kind: str, *, namespace: str | None = None
    ) -> list[dict[str, Any]]:
        return []

    async def put_resource(self, obj: dict[str, Any]) -> str:
        raise NotImplementedError

    async def delete_resource(self, kind: str, *, namespace: str, name: str) -> bool:
        return False

    async def watch_resources(self, kind: str) -> AsyncIterator[ResourceEvent]:
        await asyncio.Event().wait()
        yield ResourceEvent("BOOKMARK", {})

    async def start_agent(
        self, resolved: ResolvedTarget, *, token: str, socket_path: str
    ) -> AgentEndpoint:
        raise NotImplementedError("the fake cluster runs no agents")

    async def stop_agent(self, endpoint: AgentEndpoint) -> None:
        pass


@asynccontextmanager
async def operator(
    state: Path, *, limits: Limits | None = None
) -> AsyncIterator[tuple[OperatorService, Path]]:
    """A running operator and its socket, stopped (and its state saved) on exit."""
    sock = state / "operator.sock"
    settings = OperatorSettings(state_dir=state / "operator", limits=limits or Limits())
    async with listening(settings, OnePodCluster(), listen=f"unix:{sock}") as service:
        yield service, sock


async def started(service: OperatorService, options: ConnectOptions | None = None) -> SessionRecord:
    """A session of alice@laptop on deployment/web whose client said hello (as the connect
    handler does it)."""
    opening = await service.open(
        ROOT,
        target=TargetRef.parse("deployment/web"),
        namespace="default",
        whoami="alice",
        host="laptop",
        client_version="test",
        resume=None,
        options=options,
    )
    return service.begin(opening)


class UnixHTTPConnection(http.client.HTTPConnection):
    def __init__(self, path: Path, *, timeout: float) -> None:
        super().__init__("operator", timeout=timeout)
        self.path = path

    def connect(self) -> None:
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self.sock.settimeout(self.timeout)
        self.sock.connect(str(self.path))


def get(sock: Path, path: str, *, timeout: float = 30) -> tuple[float, Any]:
    """GET `path` (blocking, from a thread): how long it took, and its JSON."""
    start = time.monotonic()
    conn = UnixHTTPConnection(sock, timeout=timeout)
    try:
        conn.request("GET", path)
        body = conn.getresponse().read()
    finally:
        conn.close()
    return time.monotonic() - start, json.loads(body)


def audit_events(service: OperatorService) -> list[dict[str, Any]]:
    text = (service.settings.state_dir / "audit.jsonl").read_text()
    return [json.loads(line) for line in text.splitlines()]
