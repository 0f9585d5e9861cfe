"""kubelet's probe decisions (pure) and its HTTP probe against a real server: thresholds,
when a container is killed, how startup holds the others back, which answers are success,
which redirects are followed, and what the node refuses (gRPC; not a field at its zero
value)."""

from __future__ import annotations

import asyncio
import http.server
import ssl
import subprocess
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from pydantic import ValidationError

from podtap.backends.local import probe_actions, probes
from podtap.backends.local.models import Container, Probe
from podtap.backends.local.podfields import unhonoured
from podtap.backends.local.podstatus import ContainerView, Terminated, container_status


def _probe(**fields: Any) -> Probe:
    return Probe.model_validate({"tcpSocket": {"port": 80}, **fields})


def _outcomes(kind: probes.Kind, probe: Probe, seen: str) -> list[bool]:
    tally, out = probes.initial(kind), []
    for c in seen:
        tally = probes.record(tally, ok=c == "+", probe=probe)
        out.append(tally.ok)
    return out


def test_defaults_are_kubelets() -> None:
    p = _probe()
    assert (p.period_seconds, p.timeout_seconds) == (10, 1)
    assert (p.success_threshold, p.failure_threshold, p.initial_delay_seconds) == (1, 3, 0)


def test_thresholds_need_consecutive_outcomes() -> None:
    p = _probe(successThreshold=2, failureThreshold=3)
    assert _outcomes("readiness", p, "+-+++--+---") == [
        False, False, False, True, True, True, True, True, True, True, False,
    ]  # fmt: skip
    assert _outcomes("liveness", _probe(), "--+--+---") == [
        True, True, True, True, True, True, True, True, False,
    ]  # fmt: skip
    assert not probes.kills("readiness", probes.Tally(ok=False))
    assert probes.kills("liveness", probes.Tally(ok=False))
    assert probes.kills("startup", probes.Tally(ok=False))


def test_startup_holds_the_others_and_a_kill_waits_for_the_next_run() -> None:
    state = probes.new_run(started_at=1.0, has_startup=True, has_readiness=True)
    assert probes.runs("startup", state) and not probes.runs("liveness", state)
    assert not probes.ready(state)
    state = probes.after("startup", state, probes.Tally(ok=True))
    assert not probes.runs("startup", state) and probes.runs("readiness", state)
    assert not probes.ready(state)  # started, not yet ready
    state = probes.after("readiness", state, probes.Tally(ok=True))
    assert probes.ready(state)
    state = probes.after("liveness", state, probes.Tally(ok=False))
    assert state.killed and not probes.ready(state)
    assert not any(probes.runs(k, state) for k in ("startup", "liveness", "readiness"))
    fresh = probes.new_run(started_at=2.0, has_startup=False, has_readiness=False)
    assert probes.ready(fresh) and probes.runs("liveness", fresh)
    assert not probes.ready(probes.new_run(started_at=None, has_startup=False, has_readiness=False))


def test_http_answers_and_redirect_targets() -> None:
    assert probes.http_outcome(200, b"") == (True, "")
    assert probes.http_outcome(399, b"moved") == (
        True,
        "Probe terminated redirects, Response body: moved",
    )
    assert probes.http_outcome(404, b"") == (False, "HTTP probe failed with statuscode: 404")
    assert probes.http_outcome(199, b"") == (False, "HTTP probe failed with statuscode: 199")
    target = probes.redirect_target(
        location="../b?x=1", host="10.0.0.1", port=80, scheme="http", path="/a/c"
    )
    assert target == "http://10.0.0.1:80/b?x=1"


def test_what_the_node_takes_and_refuses() -> None:
    container = {
        "name": "app",
        "command": ["true"],
        "ports": [{"name": "web", "containerPort": 80}],
    }
    grpc = {"grpc": {"port": 9000}, "periodSeconds": 1}
    assert unhonoured({"containers": [{**container, "livenessProbe": grpc}]}) == [
        "spec.containers[0].livenessProbe.grpc"
    ]
    # What a protobuf client sends of every field, at its zero value, asks for nothing.
    zero = {**container, "stdin": False, "tty": False, "lifecycle": None}
    assert unhonoured({"containers": [zero], "hostNetwork": False, "initContainers": []}) == []
    assert unhonoured({"containers": [container], "hostNetwork": True}) == ["spec.hostNetwork"]
    with pytest.raises(ValidationError, match="a probe needs exactly one of httpGet"):
        Probe.model_validate(grpc)
    with pytest.raises(ValidationError, match=r"livenessProbe.successThreshold: must be 1"):
        Container.model_validate({**container, "livenessProbe": _probe(successThreshold=2)})
    c = Container.model_validate(container)
    assert probe_actions.port_of(c, "web") == 80
    assert probe_actions.port_of(c, "other") is None


def test_container_status_reports_the_last_run() -> None:
    last = Terminated(exit_code=143, reason="Error", started_at=0.0, finished_at=60.0)
    running = ContainerView("web", "x", "Running", "", 1, None, 61.0, 7, ready=False, last=last)
    status = container_status(running, pod_ready=False, message="")
    assert status["restartCount"] == 1 and status["ready"] is False and status["started"]
    assert status["lastState"] == {
        "terminated": {
            "exitCode": 143,
            "reason": "Error",
            "startedAt": "1970-01-01T00:00:00Z",
            "finishedAt": "1970-01-01T00:01:00Z",
        }
    }


class _Handler(http.server.BaseHTTPRequestHandler):
    def do_GET(self) -> None:
        port = self.server.server_address[1]
        routes = {
            "/ok": (200, ""),
            "/bad": (500, ""),
            "/hop": (302, "/ok"),
            "/away": (302, f"http://localhost:{port}/bad"),
            "/loop": (302, "/loop"),
        }
        if self.path == "/slow":
            time.sleep(1.5)
        if self.path == "/headers":
            ok = self.headers.get("X-Probe") == "yes" and self.headers["User-Agent"].startswith(
                "kube-probe/"
            )
            routes["/headers"] = (200 if ok else 400, "")
        status, location = routes.get(self.path, (404, ""))
        self.send_response(status)
        if location:
            self.send_header("Location", location)
        self.send_header("Content-Length", "0")
        self.end_headers()

    def log_message(self, *args: object) -> None:
        pass


@pytest.fixture
def server(tmp_path: Path) -> Iterator[tuple[int, int]]:
    """A plain and a TLS (self-signed) server on 127.0.0.1: their ports."""
    key, cert = tmp_path / "k.pem", tmp_path / "c.pem"
    subprocess.run(
        ["openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1",
         "-nodes", "-subj", "/CN=probed", "-days", "1", "-keyout", str(key), "-out", str(cert)],
        check=True, capture_output=True,
    )  # fmt: skip
    plain = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _Handler)
    secure = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _Handler)
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(cert, key)
    secure.socket = context.wrap_socket(secure.socket, server_side=True)
    threads = [threading.Thread(target=s.serve_forever, daemon=True) for s in (plain, secure)]
    for t in threads:
        t.start()
    try:
        yield plain.server_address[1], secure.server_address[1]
    finally:
        for s in (plain, secure):
            s.shutdown()
            s.server_close()


def _get(port: int, path: str, *, scheme: str = "HTTP", **extra: Any) -> tuple[bool, str]:
    probe = Probe.model_validate(
        {"httpGet": {"port": "web", "path": path, "scheme": scheme, **extra}}
    )
    c = Container.model_validate(
        {"name": "app", "command": ["true"], "ports": [{"name": "web", "containerPort": port}]}
    )
    return asyncio.run(probe_actions.run(probe, container=c, ip="127.0.0.1", enter_argv=[]))


def test_http_probe_against_a_real_server(server: tuple[int, int]) -> None:
    plain, secure = server
    assert _get(plain, "/ok") == (True, "")
    assert _get(secure, "/ok", scheme="HTTPS") == (True, "")  # self-signed: not verified
    assert _get(plain, "/bad") == (False, "HTTP probe failed with statuscode: 500")
    assert _get(plain, "/hop") == (True, "")  # same host: followed
    ok, message = _get(plain, "/away")  # another host: not followed, a warning
    assert ok and message.startswith("Probe terminated redirects")
    ok, message = _get(plain, "/loop")
    assert not ok and "stopped after 10 redirects" in message
    ok, message = _get(plain, "/slow")
    assert not ok and "context deadline exceeded" in message
    assert _get(plain, "/headers", httpHeaders=[{"name": "X-Probe", "value": "yes"}])[0]
    assert not _get(plain, "/headers")[0]
    ok, message = _get(secure, "/ok")  # plain HTTP to a TLS port
    assert not ok
