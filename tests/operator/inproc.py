"""The operator in the test's own process, on a Unix socket, over the in-memory cluster
(podtap.testing.fakebackend): for tests of its API and bookkeeping that need neither root
nor an embedded cluster."""

from __future__ import annotations

import http.client
import json
import socket
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

from podtap.backends.base import TargetRef
from podtap.backends.local.manifests import parse_text
from podtap.core.arbitration import OnConcurrentSteal
from podtap.core.ids import Port, RequestId
from podtap.core.lifecycle import Limits
from podtap.core.protocol import IncomingMode, Subscribe
from podtap.core.sessions import Attach, Detach, SubscribeAsked, unix_principal
from podtap.operator.identity import Caller
from podtap.operator.records import SessionRecord
from podtap.operator.server import listening
from podtap.operator.service import ConnectOptions, OperatorService, OperatorSettings
from podtap.testing.fakebackend import FakeCluster

ROOT = Caller(principal=unix_principal(0), name="root", admin=True)
WEB = """
apiVersion: apps/v1
kind: Deployment
metadata: {name: web}
spec:
  replicas: 1
  selector: {matchLabels: {app: web}}
  template:
    metadata: {labels: {app: web}}
    spec:
      containers:
        - name: app
          command: ["python3", "-m", "http.server", "8000"]
          ports: [{containerPort: 8000}]
          env: [{name: GREETING, value: hello}]
"""


class OnePodCluster(FakeCluster):
    """deployment/web with one ready pod; with `agents=False` (the default here) agents
    cannot be started (the tests using it never get that far, or check that failure)."""

    def __init__(self, *, agents: bool = False) -> None:
        super().__init__(parse_text(WEB, source="web.yaml"), agents=agents)


@asynccontextmanager
async def operator(
    state: Path,
    *,
    limits: Limits | None = None,
    cluster: FakeCluster | None = None,
    handoff_grace: float = 0.5,
) -> AsyncIterator[tuple[OperatorService, Path]]:
    """A running operator and its socket over `cluster` (a OnePodCluster without agents
    by default), stopped (and its state saved) on exit."""
    sock = state / "operator.sock"
    settings = OperatorSettings(
        state_dir=state / "operator", limits=limits or Limits(), handoff_grace=handoff_grace
    )
    backend = cluster if cluster is not None else OnePodCluster()
    async with listening(settings, backend, listen=f"unix:{sock}") as service:
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


async def granted(
    service: OperatorService, record: SessionRecord, port: int, mode: IncomingMode
) -> None:
    """`record`'s client attaches, is granted `port` by the book, and leaves (nothing is
    relayed: the fake cluster runs no agent)."""
    now = time.time()
    await service.handle(
        Attach(session=record.id, on_concurrent_steal=OnConcurrentSteal.ABORT, now=now)
    )
    frame = Subscribe(request=RequestId(1), port=Port(port), mode=mode, http_filter=None)
    await service.handle(SubscribeAsked(session=record.id, frame=frame, now=now))
    await service.handle(Detach(session=record.id, now=now))


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
