"""Benchmark: unmatched HTTP traffic through the agent vs direct vs nginx reverse proxy.

Run as root: `python bench/agent_passthrough.py [--seconds 5] [--connections 16]`.
In one run, inside throw-away network namespaces (a "pod" and a "client" joined by a
veth), it measures with wrk:
  direct  client -> app (nginx returning a small body on :8080)
  nginx   client -> nginx reverse proxy (:8081, keep-alive upstream) -> app
  agent   client -> :8080 with the agent holding a filtered steal that matches nothing,
          so every request is parsed, routed to the app, and its response relayed back
  mixed   the same, but 1 request in 100 carries the filter's header and is answered by the
          session (so connections keep going from the fast path to the router and back)
and prints requests/s, p50/p99 latency and the ratios agent/nginx and agent/direct."""

from __future__ import annotations

import argparse
import asyncio
import re
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from podtap.core.ids import Port, RequestId
from podtap.core.protocol import HttpFilter, IncomingMode, Subscribe, SubscribeResult
from podtap.net.tasks import TaskSet
from podtap.testing.agentproc import AgentProcess, agent_link
from podtap.testing.fakedev import serve_requests, text_reply
from podtap.testing.netns import Pair, netns_pair, sh, wait_http

NGINX_CONF = """
worker_processes 1;
pid {dir}/nginx.pid;
error_log {dir}/error.log;
events {{ worker_connections 1024; }}
http {{
  access_log off;
  client_body_temp_path {dir}/body;
  proxy_temp_path {dir}/proxy;
  fastcgi_temp_path {dir}/fcgi;
  uwsgi_temp_path {dir}/uwsgi;
  scgi_temp_path {dir}/scgi;
  upstream app {{ server 127.0.0.1:8080; keepalive 32; }}
  server {{ listen 8080; location / {{ return 200 "hello from the app\\n"; }} }}
  server {{
    listen 8081;
    location / {{
      proxy_pass http://app;
      proxy_http_version 1.1;
      proxy_set_header Connection "";
      proxy_set_header X-Forwarded-For $remote_addr;
    }}
  }}
}}
"""


# wrk script: every 100th request of a connection carries the filter's header
MIXED_LUA = """
local n = 0
request = function()
  n = n + 1
  if n % 100 == 0 then
    return wrk.format(nil, nil, {["x-user"] = "bench-match"})
  end
  return wrk.format()
end
"""


def wrk(
    pair: Pair, port: int, *, seconds: int, connections: int, script: Path | None = None
) -> dict[str, float]:
    extra = ["-s", str(script)] if script is not None else []
    out = sh(
        *pair.exec_argv(
            pair.client,
            "wrk",
            "-t1",
            f"-c{connections}",
            f"-d{seconds}s",
            "--latency",
            *extra,
            f"http://{pair.pod_ip}:{port}/",
        )
    ).stdout
    rps = float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1))  # type: ignore[union-attr]

    def pct(p: str) -> float:
        m = re.search(rf"^\s+{p}%\s+([\d.]+)(us|ms|s)\s*$", out, re.M)
        assert m, out
        return float(m.group(1)) * {"us": 0.001, "ms": 1.0, "s": 1000.0}[m.group(2)]

    errors = re.search(r"Non-2xx or 3xx responses: (\d+)", out)
    if errors or "Socket errors" in out:
        print(out, file=sys.stderr)
    return {"rps": rps, "p50": pct("50"), "p99": pct("99")}


async def with_agent(
    pair: Pair, pid: int, run: Path, seconds: int, connections: int, *, mixed: bool = False
) -> dict[str, float]:
    """wrk through the agent holding a filtered steal; with ``mixed`` 1% of the requests
    match it and a session answers them."""
    agent = AgentProcess(pid=pid, socket_path=run / "agent.sock")
    tasks = TaskSet()
    try:
        async with agent_link(agent) as link:
            peer = link.session()
            flt = HttpFilter(header=r"^x-user: bench-match$")
            await peer.send(
                Subscribe(
                    request=RequestId(1), port=Port(8080), mode=IncomingMode.STEAL, http_filter=flt
                )
            )
            result = await peer.expect(SubscribeResult)
            assert result.ok, result.error
            script = None
            if mixed:
                tasks.spawn(serve_requests(peer, text_reply("from the session\n")), name="dev")
                script = run / "mixed.lua"
                script.write_text(MIXED_LUA)
            try:
                return await asyncio.to_thread(
                    wrk, pair, 8080, seconds=seconds, connections=connections, script=script
                )
            finally:
                await tasks.close()
    finally:
        agent.kill()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=int, default=5)
    parser.add_argument("--connections", type=int, default=16)
    args = parser.parse_args()
    for tool in ("wrk", "nginx"):
        if shutil.which(tool) is None:
            sys.exit(f"needs {tool}: apt-get install {tool}")
    with tempfile.TemporaryDirectory(prefix="ptbench-") as tmp, netns_pair() as pair:
        run = Path(tmp)
        for d in ("body", "proxy", "fcgi", "uwsgi", "scgi"):
            (run / d).mkdir()
        (run / "nginx.conf").write_text(NGINX_CONF.format(dir=run))
        nginx = subprocess.Popen(
            pair.exec_argv(pair.pod, "nginx", "-c", str(run / "nginx.conf"), "-g", "daemon off;")
        )
        try:
            wait_http(pair, f"http://{pair.pod_ip}:8081/", retries=20)
            common = {"seconds": args.seconds, "connections": args.connections}
            results = {
                "direct": wrk(pair, 8080, **common),
                "nginx": wrk(pair, 8081, **common),
                "agent": asyncio.run(with_agent(pair, nginx.pid, run, **common)),
                "mixed": asyncio.run(with_agent(pair, nginx.pid, run, **common, mixed=True)),
            }
        finally:
            nginx.terminate()
            nginx.wait()
    print(f"{'path':8} {'req/s':>10} {'p50 ms':>8} {'p99 ms':>8}")
    for name, r in results.items():
        print(f"{name:8} {r['rps']:10.0f} {r['p50']:8.2f} {r['p99']:8.2f}")
    a, n, d, m = results["agent"], results["nginx"], results["direct"], results["mixed"]
    print(
        f"agent/nginx req/s: {a['rps'] / n['rps']:.2f}   agent/direct req/s: "
        f"{a['rps'] / d['rps']:.2f}   agent p50 - direct p50: {a['p50'] - d['p50']:.2f} ms   "
        f"mixed (1% to a session)/nginx: {m['rps'] / n['rps']:.2f}"
    )


if __name__ == "__main__":
    main()
