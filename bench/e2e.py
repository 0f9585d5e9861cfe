"""Benchmark: podtap exec end to end on the local cluster.

Run as root: `python bench/e2e.py [--requests 200] [--mib 100]`. In one run it measures:
  1. session start: from launching `podtap exec --steal --filter ...` to the first stolen
     request answered by the local app;
  2. added latency of a stolen request (cluster -> agent -> operator -> local app) versus a
     request answered by the pod itself, both sent the same way from this machine;
  3. outgoing throughput: a download from a cluster service inside the jail (through the
     operator and the agent) versus the same download from a pod.
"""

from __future__ import annotations

import argparse
import http.client
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from podtap.testing.localcluster import LocalCluster, podtap_argv
from tests.agent.web import WEB, port_forward

LOCAL_APP = """
from http.server import BaseHTTPRequestHandler, HTTPServer
class H(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    def do_GET(self):
        self.send_response(200)
        self.send_header("Content-Length", "5")
        self.end_headers()
        self.wfile.write(b"local")
    def log_message(self, *args):
        pass
HTTPServer(("127.0.0.1", 8080), H).serve_forever()
"""
EXAMPLES = Path(__file__).resolve().parents[1] / "examples" / "shop"


def get(port: int, user: str | None) -> bytes:
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
    try:
        conn.request("GET", "/whoami", headers={"x-user": user} if user else {})
        return conn.getresponse().read()
    finally:
        conn.close()


def latencies(port: int, user: str | None, n: int) -> float:
    samples = []
    for _ in range(n):
        start = time.perf_counter()
        get(port, user)
        samples.append((time.perf_counter() - start) * 1000)
    return statistics.median(samples)


def speed(cluster: LocalCluster, argv: list[str]) -> float:
    out = cluster.podtap(*argv, timeout=300).stdout
    return float(out.strip().splitlines()[-1]) / (1024 * 1024)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--requests", type=int, default=200)
    parser.add_argument("--mib", type=int, default=100)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="pte-", dir="/tmp") as home:
        cluster = LocalCluster("e2e", state_home=Path(home))
        web = Path(home) / "web.yaml"
        web.write_text(WEB)
        app = Path(home) / "app.py"
        app.write_text(LOCAL_APP)
        try:
            cluster.up(EXAMPLES, web)
            with port_forward(cluster, "svc/shop", 80) as port:
                get(port, None)
                started = time.perf_counter()
                proc = subprocess.Popen(
                    podtap_argv(
                        "exec",
                        "-t",
                        "deployment/shop",
                        "--steal",
                        "--filter",
                        "x-user: bench",
                        "--",
                        sys.executable,
                        str(app),
                    ),
                    env=cluster.env,
                    stdout=subprocess.DEVNULL,
                    stderr=subprocess.DEVNULL,
                )
                try:
                    while get(port, "bench") != b"local":
                        pass
                    start_s = time.perf_counter() - started
                    direct = latencies(port, None, args.requests)
                    stolen = latencies(port, "bench", args.requests)
                finally:
                    proc.terminate()
                    proc.wait()
            size = args.mib * 1024 * 1024
            curl = [
                "curl",
                "-s",
                "-o",
                "/dev/null",
                "-w",
                "%{speed_download}\n",
                f"http://web/download?size={size}",
            ]
            from_pod = speed(cluster, ["local", "run", "--", *curl])
            from_jail = speed(cluster, ["exec", "-t", "deployment/shop", "--", *curl])
        finally:
            cluster.down()
    print(f"session start (exec -> first stolen request answered): {start_s:.2f} s")
    print(
        f"request p50: answered by the pod {direct:.2f} ms, stolen to the local app "
        f"{stolen:.2f} ms (+{stolen - direct:.2f} ms, ratio {stolen / direct:.2f})"
    )
    print(
        f"outgoing download {args.mib} MiB: from a pod {from_pod:.0f} MiB/s, through the "
        f"jail {from_jail:.0f} MiB/s (ratio {from_jail / from_pod:.2f})"
    )


if __name__ == "__main__":
    main()
