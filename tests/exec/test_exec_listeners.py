"""`podtap exec` follows the app's listeners: a port it closes goes back to the pod, a port
it listens on again is subscribed again; `ignore_localhost` leaves loopback-only ports alone."""

from __future__ import annotations

import json
import signal
import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from ipaddress import ip_address
from pathlib import Path

from podtap.net.procfs import parse_listeners
from podtap.testing.localcluster import LocalCluster, podtap_argv, processes_of
from podtap.testing.wait import wait_until

# An HTTP app driven by its stdin (which `podtap exec` passes through): "close" stops
# listening, "listen" listens again; each listed HOST:PORT of argv is one listener.
APP = """
import sys, threading
from http.server import BaseHTTPRequestHandler, HTTPServer
class H(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    def do_GET(self):
        body = f"local app got {self.path}".encode()
        self.send_response(200)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)
    def log_message(self, *args):
        pass
def serve():
    out = []
    for spec in sys.argv[1:]:
        host, port = spec.rsplit(":", 1)
        server = HTTPServer((host, int(port)), H)
        threading.Thread(target=server.serve_forever, daemon=True).start()
        out.append(server)
    return out
servers = serve()
for line in sys.stdin:
    if line.strip() == "close":
        for server in servers:
            server.shutdown()
            server.server_close()
        servers = []
    elif line.strip() == "listen":
        servers = serve()
"""


@contextmanager
def exec_app(
    cluster: LocalCluster, tmp_path: Path, *options: str, listen: tuple[str, ...]
) -> Iterator[tuple[subprocess.Popen[bytes], Path]]:
    """`podtap exec OPTIONS -- python APP LISTEN…`, stopped with Ctrl-C at the end."""
    app = tmp_path / "app.py"
    app.write_text(APP)
    errors = tmp_path / "exec.err"
    with errors.open("w") as err:
        proc = subprocess.Popen(
            podtap_argv("exec", *options, "--", sys.executable, str(app), *listen),
            env=cluster.env,
            stdin=subprocess.PIPE,
            stdout=subprocess.DEVNULL,
            stderr=err,
        )
    try:
        yield proc, errors
    finally:
        proc.send_signal(signal.SIGINT)
        try:
            proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
        assert proc.stdin is not None
        proc.stdin.close()


def tell(proc: subprocess.Popen[bytes], line: str) -> None:
    assert proc.stdin is not None
    proc.stdin.write(line.encode() + b"\n")
    proc.stdin.flush()


def curl_as_me(cluster: LocalCluster, url: str) -> str:
    return cluster.run(["curl", "-sS", "--max-time", "10", "-H", "x-user: me", url]).stdout


def test_a_closed_port_goes_back_to_the_pod_and_listening_again_takes_it_again(
    shop: LocalCluster, tmp_path: Path
) -> None:
    steal = ("-t", "deployment/shop", "--steal", "--filter", "x-user: me")
    with exec_app(shop, tmp_path, *steal, listen=("127.0.0.1:8080",)) as (proc, errors):
        wait_until(
            lambda: "port 8080: steal" in errors.read_text(),
            timeout=20,
            what="the local app's port to be stolen",
        )
        assert curl_as_me(shop, "http://shop/a") == "local app got /a"

        tell(proc, "close")
        wait_until(
            lambda: "port 8080: unsubscribed" in errors.read_text(),
            timeout=10,
            what="podtap exec to see the app stop listening",
        )
        assert '"pod": "shop-' in curl_as_me(shop, "http://shop/whoami")
        assert "8080 steal" not in shop.podtap("operator", "status").stdout

        tell(proc, "listen")
        wait_until(
            lambda: errors.read_text().count("port 8080: steal") == 2,
            timeout=10,
            what="the port to be stolen again",
        )
        assert curl_as_me(shop, "http://shop/b") == "local app got /b"
    assert processes_of(shop, "podtap.client.jail") == []


def test_ignore_localhost_leaves_loopback_only_listeners_alone(
    shop: LocalCluster, tmp_path: Path
) -> None:
    config = tmp_path / "mirrord.json"
    config.write_text(
        json.dumps(
            {
                "target": "deployment/shop",
                "feature": {
                    "network": {
                        "incoming": {
                            "mode": "steal",
                            "ignore_localhost": True,
                            "http_filter": {"header_filter": "x-user: me"},
                        }
                    }
                },
            }
        )
    )
    (pod,) = shop.pods("shop-")
    listen = ("127.0.0.1:8080", "0.0.0.0:9999")
    with exec_app(shop, tmp_path, "-f", str(config), listen=listen) as (_, errors):
        # 8080 was bound before 9999: a scan that saw 9999 has decided about 8080 too
        wait_until(
            lambda: "port 9999: steal" in errors.read_text(),
            timeout=20,
            what="the app's port on every address to be stolen",
        )
        assert "port 8080" not in errors.read_text()
        assert curl_as_me(shop, f"http://{pod['ip']}:9999/x") == "local app got /x"
        assert '"pod": "shop-' in curl_as_me(shop, "http://shop/whoami")


def test_listeners_are_read_from_proc_net_tables() -> None:
    tcp = (
        "  sl  local_address rem_address   st tx_queue rx_queue tr tm->when retrnsmt   uid"
        "  timeout inode\n"
        "   0: 0100007F:1F90 00000000:0000 0A 00000000:00000000 00:00000000 00000000"
        "     0        0 1111 1 0 100 0 0 10 0\n"
        "   1: 00000000:270F 00000000:0000 0A 00000000:00000000 00:00000000 00000000"
        "     0        0 2222 1 0 100 0 0 10 0\n"
        "   2: 0100007F:1F90 0100007F:A000 01 00000000:00000000 00:00000000 00000000"
        "     0        0 3333 1 0 100 0 0 10 0\n"
    )
    tcp6 = (
        "  sl  local_address remote_address st tx_queue rx_queue tr tm->when retrnsmt   uid"
        "  timeout inode\n"
        "   0: 00000000000000000000000001000000:0050 00000000000000000000000000000000:0000 0A"
        " 00000000:00000000 00:00000000 00000000     0        0 4444 1 0 100 0 0 10 0\n"
        "   1: 0000000000000000FFFF00000100007F:0051 00000000000000000000000000000000:0000 0A"
        " 00000000:00000000 00:00000000 00000000     0        0 5555 1 0 100 0 0 10 0\n"
        "   2: 00000000000000000000000000000000:0052 00000000000000000000000000000000:0000 0A"
        " 00000000:00000000 00:00000000 00000000     0        0 6666 1 0 100 0 0 10 0\n"
    )
    found = parse_listeners(tcp) + parse_listeners(tcp6)
    assert [(x.port, ip_address(x.address), x.inode, x.loopback) for x in found] == [
        (8080, ip_address("127.0.0.1"), 1111, True),
        (9999, ip_address("0.0.0.0"), 2222, False),
        (80, ip_address("::1"), 4444, True),
        (81, ip_address("::ffff:127.0.0.1"), 5555, True),
        (82, ip_address("::"), 6666, False),
    ]
