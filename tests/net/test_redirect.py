"""The Redirector in real network namespaces: steal, fail open, survive SIGKILL."""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import sys
import time
from collections.abc import Iterator

import pytest

from podtap.testing.netns import Pair, netns_pair, sh
from podtap.testing.wait import wait_until

if os.geteuid() != 0 or shutil.which("nft") is None:
    pytest.skip("needs root and nftables", allow_module_level=True)

APP = (
    "import socket, threading\n"
    "s = socket.create_server(('0.0.0.0', 8080)); print('ready', flush=True)\n"
    "def serve(c):\n"
    "    c.sendall(b'app\\n')\n"
    "    for line in c.makefile('rb'):\n"
    "        c.sendall(b'app:' + line)\n"
    "while True:\n"
    "    threading.Thread(target=serve, args=(s.accept()[0],), daemon=True).start()\n"
)


def start(pair: Pair, ns: str, *argv: str) -> subprocess.Popen[str]:
    proc = subprocess.Popen(
        pair.exec_argv(ns, *argv), stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True
    )
    assert proc.stdout is not None and proc.stdout.readline().strip() == "ready"
    return proc


@pytest.fixture
def pod() -> Iterator[Pair]:
    with netns_pair() as pair:
        app = start(pair, pair.pod, sys.executable, "-c", APP)
        try:
            yield pair
        finally:
            app.kill()
            app.wait()


def greeting(pair: Pair) -> str:
    """First line the pod answers on a new connection to 8080, asked from the client ns."""
    out = sh(
        *pair.exec_argv(
            pair.client,
            sys.executable,
            "-c",
            "import socket; s = socket.create_connection(('10.77.0.2', 8080), timeout=2);"
            "print(s.makefile().readline().strip())",
        ),
        check=False,
    )
    return out.stdout.strip() or f"error: {out.stderr.strip().splitlines()[-1:]}"


def thief(pair: Pair) -> subprocess.Popen[str]:
    return start(pair, pair.pod, sys.executable, "-m", "podtap.testing.thief", "8080")


def tables(pair: Pair) -> str:
    return sh("ip", "netns", "exec", pair.pod, "nft", "list", "tables").stdout


def test_steals_new_connections_and_unhooks_on_remove(pod: Pair) -> None:
    assert greeting(pod) == "app"
    t = thief(pod)
    try:
        assert greeting(pod) == "stolen 10.77.0.2:8080"
        assert t.stdin is not None and t.stdout is not None
        t.stdin.write("remove 8080\n")
        t.stdin.flush()
        assert t.stdout.readline().strip() == "ok"
        assert greeting(pod) == "app"
    finally:
        t.stdin.close()  # type: ignore[union-attr]
        t.wait(timeout=10)
    assert "podtap_thief" not in tables(pod)


def test_connections_open_before_the_thief_keep_talking_to_the_app(pod: Pair) -> None:
    ns_fd = os.open(f"/run/netns/{pod.client}", os.O_RDONLY)
    try:
        conn = _connect_from(ns_fd)
    finally:
        os.close(ns_fd)
    with conn:
        stream = conn.makefile("rwb")
        assert stream.readline() == b"app\n"
        t = thief(pod)
        try:
            assert greeting(pod) == "stolen 10.77.0.2:8080"
            for i in range(5):
                stream.write(b"ping %d\n" % i)
                stream.flush()
                assert stream.readline() == b"app:ping %d\n" % i
        finally:
            t.kill()
            t.wait()


def _connect_from(ns_fd: int) -> socket.socket:
    """A socket created inside another network namespace (from a short-lived thread)."""
    import threading

    from podtap.net.namespaces import join_netns

    box: list[socket.socket] = []

    def work() -> None:
        join_netns(f"/proc/self/fd/{ns_fd}")
        box.append(socket.create_connection(("10.77.0.2", 8080), timeout=5))

    th = threading.Thread(target=work)
    th.start()
    th.join()
    return box[0]


def test_sigkill_of_the_thief_gives_the_port_back_within_a_second_20_times(pod: Pair) -> None:
    for _ in range(20):
        t = thief(pod)
        assert greeting(pod) == "stolen 10.77.0.2:8080"
        t.kill()
        t.wait()
        killed = time.monotonic()
        wait_until(lambda: greeting(pod) == "app", timeout=1.0, what="the app to answer again")
        assert time.monotonic() - killed < 1.0
        assert "podtap_thief" not in tables(pod)
