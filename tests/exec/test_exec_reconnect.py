"""`podtap exec` survives a dropped link to the operator (issue 10, item 6): the command keeps
running through an operator restart (its pod deleted, or killed and replaced by its
Deployment, or a network blip), the client resumes its session and its stolen requests come
back, while a teammate's requests reach the pod throughout; an operator away past the unused
TTL, or one that says the session is gone (410), ends the run non-zero, saying so, and stops
the command."""

from __future__ import annotations

import contextlib
import json
import os
import re
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml

from podtap.testing.localcluster import LocalCluster, podtap_argv
from podtap.testing.wait import wait_until
from tests.cluster.test_kubectl_local import Kubectl
from tests.conftest import SHOP_TTL
from tests.exec.test_exec_incoming import LOCAL_APP
from tests.exec.test_exec_spec import answer

STEAL_MINE = {
    "target": "deployment/shop",
    "feature": {
        "network": {"incoming": {"mode": "steal", "http_filter": {"header_filter": "^x-user: me$"}}}
    },
}
RESUMED = "reconnected, session "


OPERATOR = ("-n", "podtap", "deployment/podtap-operator")
OPERATOR_PODS = "app.kubernetes.io/name=podtap-operator"


class Operator:
    """The shop's operator as its admin sees it: its pod, deleted or killed, and its
    Deployment, scaled."""

    def __init__(self, shop: LocalCluster) -> None:
        self.shop = shop
        self.kubectl = Kubectl(shop.kubeconfig, shop.state_home)

    def pods(self) -> list[dict[str, Any]]:
        found = self.kubectl.json(
            "pods", "-n", "podtap", "-l", "app.kubernetes.io/name=podtap-operator"
        )
        return list(found["items"])

    def ready(self) -> list[str]:
        return [
            p["metadata"]["name"]
            for p in self.pods()
            if not p["metadata"].get("deletionTimestamp")
            and any(
                c["type"] == "Ready" and c["status"] == "True"
                for c in p["status"].get("conditions") or []
            )
        ]

    def delete(self, *, force: bool) -> str:
        """Delete the running pod (--force: SIGKILL, no goodbye); its name."""
        (name,) = self.ready()
        now = ("--grace-period=0", "--force") if force else ()
        self.kubectl("delete", "pod", "-n", "podtap", name, "--wait=false", *now)
        return name

    def scale(self, replicas: int) -> None:
        self.kubectl("scale", *OPERATOR, f"--replicas={replicas}")

    def away(self) -> None:
        """Scaled to 0 and its pod killed at once (no goodbye): no operator at all."""
        self.scale(0)
        for pod in self.pods():
            name = pod["metadata"]["name"]
            self.kubectl("delete", "pod", "-n", "podtap", name, "--grace-period=0", "--force",
                         ok=False)  # fmt: skip

    def wait_ready(self, *, other_than: str = "", timeout: float = 60) -> None:
        """Until a pod (not `other_than`) is ready and the operator answers through the API
        server (it leads, and its Service has it as endpoint)."""
        wait_until(
            lambda: [p for p in self.ready() if p != other_than] and self.answers(),
            timeout=timeout,
            what="the operator's pod to be ready and to answer",
            interval=0.2,
        )

    def answers(self) -> bool:
        return self.shop.podtap("operator", "status", check=False).returncode == 0


@pytest.fixture
def operator(shop: LocalCluster) -> Iterator[Operator]:
    """The shop's operator; it runs again at the end whatever the test did to it."""
    op = Operator(shop)
    try:
        yield op
    finally:
        op.scale(1)
        op.wait_ready()
        wait_until(  # a restored record whose client gave up holds its ports until it ends
            lambda: not _sessions(shop),
            timeout=30,
            what="the sessions of this test to end",
            interval=0.5,
        )


def _sessions(shop: LocalCluster) -> list[Any]:
    status = json.loads(shop.podtap("operator", "status", "-o", "json").stdout)
    return list(status["sessions"])


@contextlib.contextmanager
def running(
    shop: LocalCluster, tmp_path: Path, *, env: dict[str, str] | None = None
) -> Iterator[tuple[subprocess.Popen[bytes], Path, Path]]:
    """`podtap exec` of the local app ('mine') stealing x-user: me, once its port is stolen:
    (the exec process, its stderr file, the app's file)."""
    app, config, errors = tmp_path / "app.py", tmp_path / "mirrord.json", tmp_path / "err"
    app.write_text(LOCAL_APP)
    config.write_text(json.dumps(STEAL_MINE))
    with errors.open("w") as err:
        proc = subprocess.Popen(
            podtap_argv("exec", "-f", str(config), "--", sys.executable, str(app), "mine"),
            env={**shop.env, **(env or {})},
            stdout=subprocess.DEVNULL,
            stderr=err,
        )
    try:
        wait_until(
            lambda: "port 8080: steal" in errors.read_text() or proc.poll() is not None,
            timeout=30,
            what="port 8080 to be stolen",
        )
        assert proc.poll() is None, errors.read_text()
        yield proc, errors, app
    finally:
        if proc.poll() is None:
            proc.send_signal(signal.SIGINT)
        proc.wait(timeout=20)


def app_pids(app: Path) -> list[int]:
    """The command itself (python APP ...), not podtap exec or the jail that run it."""
    found = []
    for pid in filter(str.isdigit, os.listdir("/proc")):
        with contextlib.suppress(OSError):
            cmd = Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0")
            if cmd[1:2] == [str(app).encode()]:
                found.append(int(pid))
    return found


def session_of(errors: Path) -> str:
    found = re.search(r"session ([0-9A-F]{16}): reading", errors.read_text())
    assert found, errors.read_text()
    return found[1]


def resumed(errors: Path, before: int, *, timeout: float) -> float:
    """Wait for the `before + 1`th 'reconnected' line; seconds it took."""
    start = time.monotonic()
    try:
        wait_until(
            lambda: errors.read_text().count(RESUMED) > before,
            timeout=timeout,
            what="podtap exec to resume its session",
        )
    except AssertionError as e:
        raise AssertionError(f"{e}; podtap exec said:\n{errors.read_text()}") from None
    return time.monotonic() - start


def test_an_operator_restart_keeps_the_command_running_and_its_stolen_requests_come_back(
    shop: LocalCluster, tmp_path: Path, operator: Operator
) -> None:
    with running(shop, tmp_path) as (proc, errors, app):
        assert answer(shop, "/before", user="me") == "mine"
        assert answer(shop, "/before", user="ann") == "pod"
        (command,) = app_pids(app)
        figures = {}
        for n, how in enumerate(("restart", "crash")):
            # crash: SIGKILL, no goodbye at all; the pod answers everyone meanwhile
            gone = operator.delete(force=how == "crash")
            wait_until(
                lambda: "lost the operator" in errors.read_text().split(RESUMED)[-1],
                timeout=15,
                what="podtap exec to notice",
            )
            assert answer(shop, "/away", user="ann") == "pod"
            operator.wait_ready(other_than=gone)
            figures[how] = resumed(errors, n, timeout=20)
            wait_until(
                lambda: answer(shop, "/after", user="me") == "mine",
                timeout=15,
                what="the stolen request to reach the command again",
            )
            assert answer(shop, "/after", user="ann") == "pod"
            assert proc.poll() is None and app_pids(app) == [command], errors.read_text()
        text = errors.read_text()
        label = session_of(errors)
        assert f"reconnecting (attempt 1, session {label} kept for up to " in text, text
        assert text.count(f"reconnected, session {label} resumed") == 2, text
        lines = [line for line in text.splitlines() if RESUMED in line]
        print(f"resumed after the new operator answered: {figures}; {lines}")


def test_an_operator_away_past_the_unused_ttl_ends_the_run_saying_the_session_is_gone(
    shop: LocalCluster, tmp_path: Path, operator: Operator
) -> None:
    ttl = float(SHOP_TTL)  # podtap exec learns it from the operator, not from its env
    with running(shop, tmp_path) as (proc, errors, app):
        assert app_pids(app)
        operator.away()  # and its Deployment starts no other
        lost = time.monotonic()
        code = proc.wait(timeout=ttl + 15)
        took = time.monotonic() - lost
        text = " ".join(errors.read_text().split())  # long lines are wrapped
        assert code != 0, text
        assert "session ended: StateLost: session " in text and " is gone: " in text, text
        assert "unused TTL" in text and "Traceback" not in text, text
        assert ttl - 1 <= took <= ttl + 5, (took, text)
        wait_until(lambda: not app_pids(app), timeout=10, what="the command to be stopped")


class Proxy:
    """127.0.0.1:PORT relayed to the API server at `upstream` (TLS passes through), whose
    links can be cut (a network blip) and which can turn connections away for a while (the
    operator unreachable)."""

    def __init__(self, upstream: tuple[str, int]) -> None:
        self.upstream = upstream
        self.refusing = False
        self._server = socket.create_server(("127.0.0.1", 0))
        self.port = self._server.getsockname()[1]
        self._links: list[socket.socket] = []
        self._lock = threading.Lock()
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self) -> None:
        while True:
            try:
                client, _ = self._server.accept()
            except OSError:
                return
            if self.refusing:
                client.close()
                continue
            try:
                upstream = socket.create_connection(self.upstream)
            except OSError:
                client.close()
                continue
            with self._lock:
                self._links += [client, upstream]
            for a, b in ((client, upstream), (upstream, client)):
                threading.Thread(target=_pipe, args=(a, b), daemon=True).start()

    def cut(self) -> None:
        with self._lock:
            links, self._links = self._links, []
        for sock in links:
            with contextlib.suppress(OSError):
                sock.shutdown(socket.SHUT_RDWR)
            sock.close()

    def close(self) -> None:
        self._server.close()
        self.cut()


def _pipe(source: socket.socket, sink: socket.socket) -> None:
    with contextlib.suppress(OSError):
        while data := source.recv(65536):
            sink.sendall(data)
    with contextlib.suppress(OSError):
        sink.shutdown(socket.SHUT_WR)


def through(proxy: Proxy, kubeconfig: Path, out: Path) -> Path:
    """A copy of `kubeconfig` whose server is the proxy."""
    config = yaml.safe_load(kubeconfig.read_text())
    for cluster in config["clusters"]:
        cluster["cluster"]["server"] = f"https://127.0.0.1:{proxy.port}"
    out.write_text(yaml.safe_dump(config))
    out.chmod(0o600)
    return out


def server_of(kubeconfig: Path) -> tuple[str, int]:
    server = yaml.safe_load(kubeconfig.read_text())["clusters"][0]["cluster"]["server"]
    host, port = server.removeprefix("https://").rsplit(":", 1)
    return host, int(port)


def test_a_blip_is_resumed_and_a_session_killed_meanwhile_ends_the_run_as_gone(
    shop: LocalCluster, tmp_path: Path, operator: Operator
) -> None:
    proxy = Proxy(server_of(shop.kubeconfig))
    try:
        proxied = through(proxy, shop.kubeconfig, tmp_path / "kubeconfig")
        env: dict[str, Any] = {"KUBECONFIG": str(proxied)}
        with running(shop, tmp_path, env=env) as (proc, errors, app):
            assert answer(shop, "/before", user="me") == "mine"
            proxy.cut()  # the operator itself stays up: it sees its client go, keeps the record
            took = resumed(errors, 0, timeout=10)
            wait_until(
                lambda: answer(shop, "/after", user="me") == "mine",
                timeout=15,
                what="the stolen request to reach the command again",
            )
            print(f"resumed {took:.2f} s after a cut link")
            proxy.refusing = True
            proxy.cut()
            killed = shop.podtap("operator", "session", "kill", session_of(errors), check=False)
            assert killed.returncode == 0, killed.stderr
            proxy.refusing = False
            code = proc.wait(timeout=20)
            text = " ".join(errors.read_text().split())  # long lines are wrapped
            assert code != 0, text
            assert "is gone (the operator answered 410: " in text, text
            wait_until(lambda: not app_pids(app), timeout=10, what="the command to be stopped")
    finally:
        proxy.close()
