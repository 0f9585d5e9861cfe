"""Stress: keep-alive HTTP/1.1 through a filtered port, every answer checked byte for byte.

Run as root: `python bench/fast_path_stress.py [--connections 40] [--rounds 60]
[--max-body 10000000] [--seed 1]`. In one run, inside throw-away network namespaces (a
"pod" running the test app and a "client"), the same seeded traffic
(``podtap.testing.http_stress``: matched and unmatched requests alternating, bodies up to
``--max-body`` bytes, some shaped like request heads, every request cut at random places
and written with gaps) goes
  direct  client -> the app
  agent   client -> the app's port held by a filtered steal (``x-user: alice``); a session
          answers the matched requests, the app the rest
and prints requests, wrong answers and requests/s for each, and agent/direct. Any wrong
answer through the agent is a bug (the issue-9 smuggling defect gave 1.8-9 %)."""

from __future__ import annotations

import argparse
import asyncio
import json
import subprocess
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from podtap.core.ids import Port, RequestId
from podtap.core.protocol import HttpFilter, IncomingMode, Subscribe, SubscribeResult
from podtap.net.tasks import TaskSet
from podtap.testing.agentproc import AgentProcess, agent_link
from podtap.testing.fakedev import serve_requests
from podtap.testing.http_stress import alice_reply
from podtap.testing.netns import Pair, netns_pair, sh, wait_http


def drive(pair: Pair, args: argparse.Namespace, *, stolen: bool) -> dict[str, object]:
    out = sh(
        *pair.exec_argv(
            pair.client,
            sys.executable,
            "-m",
            "podtap.testing.http_stress",
            pair.pod_ip,
            "8000",
            str(args.connections),
            str(args.rounds),
            str(args.max_body),
            str(args.seed),
            "stolen" if stolen else "direct",
        )
    ).stdout
    result: dict[str, object] = json.loads(out.strip().splitlines()[-1])
    return result


async def through_agent(
    pair: Pair, pid: int, run: Path, args: argparse.Namespace
) -> dict[str, object]:
    agent = AgentProcess(pid=pid, socket_path=run / "agent.sock")
    tasks = TaskSet()
    try:
        async with agent_link(agent) as link:
            peer = link.session()
            flt = HttpFilter(header=r"^x-user: alice$")
            await peer.send(
                Subscribe(
                    request=RequestId(1), port=Port(8000), mode=IncomingMode.STEAL, http_filter=flt
                )
            )
            result = await peer.expect(SubscribeResult)
            assert result.ok, result.error
            tasks.spawn(serve_requests(peer, alice_reply), name="alice")
            try:
                return await asyncio.to_thread(drive, pair, args, stolen=True)
            finally:
                await tasks.close()
    finally:
        agent.kill()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--connections", type=int, default=40)
    parser.add_argument("--rounds", type=int, default=60)
    parser.add_argument("--max-body", type=int, default=10_000_000)
    parser.add_argument("--seed", type=int, default=1)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="ptbench-") as tmp, netns_pair() as pair:
        app = subprocess.Popen(
            pair.exec_argv(
                pair.pod, sys.executable, "-m", "podtap.testing.testapp", "--port", "8000"
            )
        )
        try:
            wait_http(pair, f"http://{pair.pod_ip}:8000/whoami")
            results = {
                "direct": drive(pair, args, stolen=False),
                "agent": asyncio.run(through_agent(pair, app.pid, Path(tmp), args)),
            }
        finally:
            app.terminate()
            app.wait()
    print(f"{'path':8} {'requests':>9} {'matched':>8} {'wrong':>6} {'req/s':>8}")
    for name, r in results.items():
        rps = float(r["requests"]) / float(r["seconds"])  # type: ignore[arg-type]
        print(f"{name:8} {r['requests']:>9} {r['matched']:>8} {r['wrong']:>6} {rps:8.1f}")
        for line in r["first_wrong"]:  # type: ignore[attr-defined]
            print(f"  {name} wrong: {line}")
    d, a = results["direct"], results["agent"]
    ratio = (float(a["requests"]) / float(a["seconds"])) / (  # type: ignore[arg-type]
        float(d["requests"]) / float(d["seconds"])  # type: ignore[arg-type]
    )
    print(f"agent/direct req/s: {ratio:.2f}   wrong through the agent: {a['wrong']}")


if __name__ == "__main__":
    main()
