"""`podtap exec` with outgoing and DNS filters: what goes through the pod and what is made
from the developer's machine (the network namespace `podtap exec` runs in)."""

from __future__ import annotations

import contextlib
import json
import socket
import socketserver
import subprocess
import sys
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest

from podtap.testing.localcluster import LocalCluster, processes_of


class _Hello(BaseHTTPRequestHandler):
    def do_GET(self) -> None:
        body = b"hello from this machine"
        self.send_response(200)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, format: str, *args: Any) -> None:
        pass


class _Echo(socketserver.BaseRequestHandler):
    def handle(self) -> None:
        data, sock = self.request
        sock.sendto(b"here:" + data, self.client_address)


@contextlib.contextmanager
def host_servers(address: str) -> Iterator[tuple[int, int]]:
    """An HTTP server (TCP) and a UDP echo on `address` of this machine: (tcp, udp) ports."""
    http = ThreadingHTTPServer((address, 0), _Hello)
    udp = socketserver.ThreadingUDPServer((address, 0), _Echo)
    threads = [threading.Thread(target=s.serve_forever, daemon=True) for s in (http, udp)]
    for t in threads:
        t.start()
    try:
        yield http.server_address[1], udp.server_address[1]
    finally:
        for s in (http, udp):
            s.shutdown()
            s.server_close()
        for t in threads:
            t.join(timeout=10)


def host_address() -> str:
    """A non-loopback IPv4 address of this machine (the pods cannot reach it)."""
    out = subprocess.run(
        ["ip", "-4", "-o", "addr", "show", "scope", "global"], capture_output=True, text=True
    ).stdout
    for line in out.splitlines():
        fields = line.split()
        if "inet" in fields:
            return fields[fields.index("inet") + 1].split("/")[0]
    pytest.skip("this machine has no global IPv4 address")


def exec_with(
    cluster: LocalCluster, tmp_path: Path, network: dict[str, Any], *argv: str
) -> subprocess.CompletedProcess[str]:
    config = tmp_path / "mirrord.json"
    config.write_text(json.dumps({"target": "deployment/shop", "feature": {"network": network}}))
    return cluster.podtap("exec", "-f", str(config), "--", *argv, check=False, timeout=90)


CURL = "curl -sS --max-time 10"


def test_a_local_filter_reaches_this_machines_loopback_while_the_rest_goes_to_the_pod(
    shop: LocalCluster, tmp_path: Path
) -> None:
    with host_servers("127.0.0.1") as (port, _):
        script = f"{CURL} http://127.0.0.1:{port}/; echo; {CURL} http://catalog/items"
        result = exec_with(
            shop,
            tmp_path,
            {"outgoing": {"filter": {"local": [f"localhost:{port}"]}}},
            "sh",
            "-c",
            script,
        )
        here, catalog = result.stdout.strip().splitlines()
        assert here == "hello from this machine", result.stderr
        assert json.loads(catalog)["items"][0]["sku"] == "mug"
        # without the filter, loopback is the jail's own: nothing listens there
        plain = exec_with(shop, tmp_path, {}, "sh", "-c", f"{CURL} http://127.0.0.1:{port}/")
        assert plain.returncode != 0 and "hello" not in plain.stdout
    assert processes_of(shop, "podtap.client.jail") == []


def test_a_remote_filter_sends_only_matching_names_through_the_pod(
    shop: LocalCluster, tmp_path: Path
) -> None:
    address = host_address()
    with host_servers(address) as (port, _):
        script = f"{CURL} http://{address}:{port}/; echo; {CURL} http://catalog/items"
        result = exec_with(
            shop, tmp_path, {"outgoing": {"filter": {"remote": ["catalog"]}}}, "sh", "-c", script
        )
    here, items = result.stdout.strip().splitlines()
    assert here == "hello from this machine", result.stderr
    # the service address exists only in the cluster: answered means it went through the pod
    assert json.loads(items)["served_by"].startswith("catalog-")


def test_a_loopback_port_in_a_remote_filter_reaches_the_pods_loopback(
    shop: LocalCluster, tmp_path: Path
) -> None:
    """Like a sidecar: 127.0.0.1:8080 of the pod is the frontend container itself."""
    (frontend,) = shop.pods("shop-")
    network = {"outgoing": {"filter": {"remote": ["localhost:8080"]}}}
    result = exec_with(shop, tmp_path, network, *CURL.split(), "http://127.0.0.1:8080/whoami")
    seen = json.loads(result.stdout)
    assert seen["pod"] == frontend["name"] and seen["peer"] == "127.0.0.1", result.stderr


UDP_CLIENT = """
import socket, sys
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
s.settimeout(10)
s.sendto(b"ping", (sys.argv[1], int(sys.argv[2])))
print(s.recvfrom(100)[0].decode())
"""


def test_outgoing_tcp_and_udp_off_make_every_connection_from_this_machine(
    shop: LocalCluster, tmp_path: Path
) -> None:
    address = host_address()
    with host_servers(address) as (tcp, udp):
        script = (
            f"{CURL} http://{address}:{tcp}/; echo; "
            f"{sys.executable} -c '{UDP_CLIENT}' {address} {udp}; "
            "curl -s --max-time 3 http://catalog/items | grep -q mug && echo catalog "
            "|| echo not-the-catalog"
        )
        result = exec_with(shop, tmp_path, {"outgoing": False}, "sh", "-c", script)
    assert result.stdout.split("\n")[:3] == [
        "hello from this machine",
        "here:ping",
        "not-the-catalog",  # its name resolves (DNS is the pod's), but its address is not here
    ], result.stderr


def test_udp_filtered_local_reaches_this_machine(shop: LocalCluster, tmp_path: Path) -> None:
    address = host_address()
    with host_servers(address) as (_, udp):
        network = {"outgoing": {"filter": {"local": [f"udp://{address}:{udp}"]}}}
        result = exec_with(
            shop, tmp_path, network, sys.executable, "-c", UDP_CLIENT, address, str(udp)
        )
    assert result.stdout.strip() == "here:ping", result.stderr


def this_machines_name() -> tuple[str, set[str]]:
    name = socket.gethostname()
    try:
        found = {str(i[4][0]) for i in socket.getaddrinfo(name, None)}
    except socket.gaierror:
        pytest.skip(f"this machine cannot resolve its own name {name!r}")
    return name, found


def test_a_dns_local_filter_resolves_on_this_machine_and_the_rest_in_the_pod(
    shop: LocalCluster, tmp_path: Path
) -> None:
    name, addresses = this_machines_name()
    (frontend,) = shop.pods("shop-")
    script = (
        f"getent hosts {name} || echo unknown; getent hosts catalog >/dev/null && echo catalog; "
        "grep '^hosts:' /etc/nsswitch.conf; cat /etc/hosts"
    )
    result = exec_with(shop, tmp_path, {"dns": {"filter": {"local": [name]}}}, "sh", "-c", script)
    lines = result.stdout.splitlines()
    assert lines[0].split()[0] in addresses, result.stderr
    assert lines[1:3] == ["catalog", "hosts: files dns"]
    assert frontend["name"] in "\n".join(lines[3:])  # the pod's /etc/hosts, not this machine's
    plain = exec_with(shop, tmp_path, {}, "sh", "-c", f"getent hosts {name} || echo unknown")
    assert plain.stdout.strip() == "unknown", "the pod does not know this machine's name"


def test_dns_off_resolves_every_name_on_this_machine(shop: LocalCluster, tmp_path: Path) -> None:
    name, addresses = this_machines_name()
    script = f"getent hosts {name}; getent hosts catalog || echo no-catalog"
    result = exec_with(shop, tmp_path, {"dns": False}, "sh", "-c", script)
    first, second = result.stdout.strip().splitlines()
    assert first.split()[0] in addresses, result.stderr
    assert second == "no-catalog"


NSCD_CHECK = """
import socket, subprocess, sys
from pathlib import Path
from podtap.client.jail.dns import mount_name_service
subprocess.run(["mount", "-t", "tmpfs", "tmpfs", "/run"], check=True)  # this namespace only
Path("/run/nscd").mkdir()
daemon = socket.socket(socket.AF_UNIX)
daemon.bind("/run/nscd/socket")
daemon.listen()
mount_name_service({}, scratch=Path(sys.argv[1]))
client = socket.socket(socket.AF_UNIX)
try:
    client.connect("/run/nscd/socket")
    print("reachable")
except OSError:
    print("masked")
"""


UNSHARE_MOUNT = ("unshare", "--mount", "--propagation", "private")


def test_the_jail_masks_a_name_service_cache_daemon(tmp_path: Path) -> None:
    """nscd's socket (if this machine had one) would answer lookups from outside the
    jail's network; the jail masks it. Checked in a private mount namespace."""
    from tests.conftest import require_root

    require_root()
    result = subprocess.run(
        [*UNSHARE_MOUNT, sys.executable, "-c", NSCD_CHECK, str(tmp_path)],
        capture_output=True,
        text=True,
        timeout=30,
    )
    assert result.stdout.strip() == "masked", result.stderr
