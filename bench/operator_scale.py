"""Benchmark: the operator with many sessions, and routing cost with many filters.

Run as root: `python bench/operator_scale.py [--sessions 1000] [--filters 500]`.
Starts a local cluster with the test app, then in one run:
  1. opens N sessions through the operator, each holding a filtered steal of the same port
     (`x-user: user-I`), and reports the operator's RSS before and after;
  2. measures unmatched request latency through the agent with those N filters versus
     with a single filter (every request is checked against every filter);
  3. times RouteTable matching in-process for F filters (the pure routing cost).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import aiohttp

from podtap.client.host.operator_api import OperatorAddress
from podtap.core.ids import Port, RequestId
from podtap.core.protocol import HttpFilter, IncomingMode, Subscribe, SubscribeResult
from podtap.core.routing import RequestHead, RouteTable
from podtap.testing.localcluster import LocalCluster
from podtap.testing.opclient import operator_session
from tests.agent.web import WEB, port_forward


def rss_mib(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return 0.0


async def latency(port: int, n: int) -> tuple[float, float]:
    samples = []
    async with aiohttp.ClientSession() as http:
        for _ in range(n):
            start = time.perf_counter()
            async with http.get(
                f"http://127.0.0.1:{port}/whoami", headers={"x-user": "nobody"}
            ) as r:
                await r.read()
            samples.append((time.perf_counter() - start) * 1000)
    samples.sort()
    return statistics.median(samples), samples[int(len(samples) * 0.99) - 1]


async def hold_sessions(
    op: OperatorAddress, count: int, ready: asyncio.Event, release: asyncio.Event
) -> None:
    async with contextlib.AsyncExitStack() as stack:
        for i in range(count):
            _, peer = await stack.enter_async_context(operator_session(op, "deployment/web"))
            await peer.send(
                Subscribe(
                    request=RequestId(1),
                    port=Port(8000),
                    mode=IncomingMode.STEAL,
                    http_filter=HttpFilter(header=rf"^x-user: user-{i}$"),
                )
            )
            result = await peer.expect(SubscribeResult, timeout=60)
            assert result.ok, result.error
            if (i + 1) % 100 == 0:
                print(f"  {i + 1} sessions open", flush=True)
        ready.set()
        await release.wait()


def route_table_cost(filters: int, rounds: int = 2000) -> float:
    table = RouteTable()
    for i in range(filters):
        table.add(i, HttpFilter(header=rf"^x-user: user-{i}$"))
    head = RequestHead(
        "GET", "/whoami", ((b"host", b"web"), (b"x-user", b"nobody"), (b"accept", b"*/*"))
    )
    start = time.perf_counter()
    for _ in range(rounds):
        table(head)
    return (time.perf_counter() - start) / rounds * 1e6


async def run(args: argparse.Namespace) -> None:
    with tempfile.TemporaryDirectory(prefix="ptb-", dir="/tmp") as home:
        cluster = LocalCluster("bench", state_home=Path(home))
        manifest = Path(home) / "web.yaml"
        manifest.write_text(WEB)
        try:
            await asyncio.to_thread(cluster.up, manifest)
            op = OperatorAddress(f"unix:{home}/local/bench/operator.sock")
            op_pid = int((Path(home) / "local/bench/operator.pid").read_text())
            with port_forward(cluster, "svc/web", 80) as port:
                base = rss_mib(op_pid)
                one_ready, one_release = asyncio.Event(), asyncio.Event()
                holder = asyncio.ensure_future(hold_sessions(op, 1, one_ready, one_release))
                await one_ready.wait()
                await latency(port, 50)
                p50_1, p99_1 = await latency(port, args.requests)
                one_release.set()
                await holder
                ready, release = asyncio.Event(), asyncio.Event()
                started = time.perf_counter()
                holder = asyncio.ensure_future(hold_sessions(op, args.sessions, ready, release))
                await ready.wait()
                opened = time.perf_counter() - started
                held = rss_mib(op_pid)
                p50_n, p99_n = await latency(port, args.requests)
                release.set()
                await holder
        finally:
            await asyncio.to_thread(cluster.down)
    per_filter = route_table_cost(args.filters)
    print(
        f"operator RSS: {base:.0f} MiB idle, {held:.0f} MiB with {args.sessions} sessions "
        f"({(held - base) * 1024 / args.sessions:.1f} KiB per session); opened in {opened:.1f} s"
    )
    print(
        f"unmatched request through the agent: p50 {p50_1:.2f} ms / p99 {p99_1:.2f} ms with "
        f"1 filter, p50 {p50_n:.2f} ms / p99 {p99_n:.2f} ms with {args.sessions} filters "
        f"(ratio {p50_n / p50_1:.2f})"
    )
    print(f"RouteTable match, {args.filters} filters, no match: {per_filter:.1f} us per request")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sessions", type=int, default=1000)
    parser.add_argument("--filters", type=int, default=500)
    parser.add_argument("--requests", type=int, default=300)
    asyncio.run(run(parser.parse_args()))


if __name__ == "__main__":
    main()
