"""`podtap exec --steal --filter`: the local app gets matching requests from the cluster."""

from __future__ import annotations

import contextlib
import json
import signal
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from podtap.core.exec_spec import IncomingPlan
from podtap.testing.localcluster import LocalCluster, podtap_argv, processes_of
from podtap.testing.wait import wait_until

LOCAL_APP = """
import sys
from http.server import BaseHTTPRequestHandler, HTTPServer
class H(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    def do_GET(self):
        body = f"{NAME} got {self.path} for {self.headers.get('x-user')}".encode()
        self.send_response(200)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)
    def log_message(self, *args):
        pass
NAME = sys.argv[1] if len(sys.argv) > 1 else "local app"
HTTPServer(("127.0.0.1", 8080), H).serve_forever()
"""


def test_filtered_steal_reaches_the_local_app_and_the_rest_the_pod(
    shop: LocalCluster, tmp_path: Path
) -> None:
    app = tmp_path / "app.py"
    app.write_text(LOCAL_APP)
    errors = tmp_path / "exec.err"
    with errors.open("w") as err:
        proc = subprocess.Popen(
            podtap_argv(
                "exec",
                "-t",
                "deployment/shop",
                "--steal",
                "--filter",
                "x-user: me",
                "--",
                sys.executable,
                str(app),
            ),
            env=shop.env,
            stdout=subprocess.DEVNULL,
            stderr=err,
        )
    try:
        wait_until(
            lambda: "port 8080: steal" in errors.read_text(),
            timeout=20,
            what="the local app's port to be stolen",
        )
        mine = shop.run(
            ["curl", "-sS", "--max-time", "10", "-H", "x-user: me", "http://shop/hello?x=1"]
        )
        assert mine.stdout == "local app got /hello?x=1 for me", mine.stderr
        theirs = shop.run(["curl", "-sS", "--max-time", "10", "http://shop/whoami"])
        assert '"pod": "shop-' in theirs.stdout
        status = shop.podtap("operator", "status").stdout
        assert "8080 steal header=x-user: me" in status
    finally:
        proc.send_signal(signal.SIGINT)
        proc.wait(timeout=20)
    wait_until(
        lambda: "8080 steal" not in shop.podtap("operator", "status").stdout,
        timeout=10,
        what="the session to end with podtap exec",
    )
    back = shop.run(["curl", "-sS", "--max-time", "10", "-H", "x-user: me", "http://shop/whoami"])
    assert '"pod": "shop-' in back.stdout
    assert processes_of(shop, "podtap.client.jail") == []


def test_two_developers_with_different_filters_each_get_theirs(
    shop: LocalCluster, tmp_path: Path
) -> None:
    app = tmp_path / "app.py"
    app.write_text(LOCAL_APP)
    procs: list[tuple[subprocess.Popen[bytes], Path]] = []
    try:
        for who in ("ann", "ben"):
            errors = tmp_path / f"{who}.err"
            with errors.open("w") as err:
                procs.append(
                    (
                        subprocess.Popen(
                            podtap_argv(
                                "exec",
                                "-t",
                                "deployment/shop",
                                "--steal",
                                "--filter",
                                f"^x-user: {who}$",
                                "--",
                                sys.executable,
                                str(app),
                                f"{who}'s laptop",
                            ),
                            env=shop.env,
                            stdout=subprocess.DEVNULL,
                            stderr=err,
                        ),
                        errors,
                    )
                )
        for _, errors in procs:
            wait_until(
                lambda e=errors: "port 8080: steal" in e.read_text(),
                timeout=20,
                what="both developers' ports to be stolen",
            )
        for who in ("ann", "ben"):
            got = shop.run(
                ["curl", "-sS", "--max-time", "10", "-H", f"x-user: {who}", "http://shop/x"]
            )
            assert got.stdout == f"{who}'s laptop got /x for {who}", got.stderr
        other = shop.run(
            ["curl", "-sS", "--max-time", "10", "-H", "x-user: cid", "http://shop/whoami"]
        )
        assert '"pod": "shop-' in other.stdout
    finally:
        for proc, _ in procs:
            proc.send_signal(signal.SIGINT)
        for proc, _ in procs:
            proc.wait(timeout=20)


MAPPED_APP = LOCAL_APP.replace('("127.0.0.1", 8080)', '("127.0.0.1", 9999)')


@contextlib.contextmanager
def exec_config(
    shop: LocalCluster,
    tmp_path: Path,
    doc: dict[str, Any],
    *,
    wait_for: str,
    app: str = LOCAL_APP,
    name: str = "mine",
) -> Iterator[Path]:
    """`podtap exec -f CONFIG -- python APP NAME` until the block ends, once `wait_for` is
    in its stderr; yields the stderr file."""
    app_file, config, errors = tmp_path / "app.py", tmp_path / "mirrord.json", tmp_path / "err"
    app_file.write_text(app)
    config.write_text(json.dumps(doc))
    with errors.open("w") as err:
        proc = subprocess.Popen(
            podtap_argv("exec", "-f", str(config), "--", sys.executable, str(app_file), name),
            env=shop.env,
            stdout=subprocess.DEVNULL,
            stderr=err,
        )
    try:
        wait_until(
            lambda: wait_for in errors.read_text() or proc.poll() is not None,
            timeout=20,
            what=f"{wait_for!r} from podtap exec",
        )
        assert proc.poll() is None, errors.read_text()
        yield errors
    finally:
        proc.send_signal(signal.SIGINT)
        proc.wait(timeout=20)


def test_port_mapping_from_the_config_file(shop: LocalCluster, tmp_path: Path) -> None:
    incoming = {
        "mode": "steal",
        "port_mapping": [[9999, 8080]],
        "http_filter": {"header_filter": "x-user: mapped"},
    }
    doc = {"target": "deployment/shop", "feature": {"network": {"incoming": incoming}}}
    wanted = "port 8080 (local 9999): steal"
    with exec_config(shop, tmp_path, doc, wait_for=wanted, app=MAPPED_APP, name="mapped"):
        got = shop.run(["curl", "-sS", "--max-time", "10", "-H", "x-user: mapped", "http://shop/m"])
        assert got.stdout == "mapped got /m for mapped", got.stderr


def test_port_selection_rules() -> None:
    from podtap.core.ids import Port
    from podtap.core.protocol import IncomingMode

    rules = IncomingPlan(
        mode=IncomingMode.STEAL,
        ports=frozenset({Port(80), Port(8080)}),
        ignore_ports=frozenset({Port(9000)}),
        port_mapping=((Port(3000), Port(80)),),
    )
    assert rules.remote_port(3000) == 80
    assert rules.remote_port(8080) == 8080
    assert rules.remote_port(9000) is None and rules.remote_port(5432) is None
    assert IncomingPlan(mode=IncomingMode.MIRROR).remote_port(1234) == 1234
    assert IncomingPlan(mode=None).remote_port(1234) is None
