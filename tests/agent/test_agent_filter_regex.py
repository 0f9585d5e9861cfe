"""A filter regex cannot freeze the agent (issue 9): filters run on RE2, in linear time."""

from __future__ import annotations

import asyncio
import http.client
import json
import time

from podtap.core.ids import Port, RequestId
from podtap.core.protocol import HttpFilter, IncomingMode, Subscribe, SubscribeResult
from podtap.net.tasks import TaskSet
from podtap.testing.agentproc import AgentProcess, agent_link
from podtap.testing.fakedev import serve_requests, text_reply
from tests.agent.test_agent_http import alice_answers, request, steal

DIGITS = "1" * 40  # under Python's re, (\d+\d+)+z took 2.35 s on 25 digits, x4.7 per 2 more


def test_teammates_are_answered_at_once_while_a_session_holds_a_catastrophic_filter(
    web_agent: AgentProcess, web: dict[str, int]
) -> None:
    async def go() -> None:
        tasks = TaskSet()
        async with agent_link(web_agent) as link:
            mallory = link.session()
            await steal(mallory, 8000, HttpFilter(header=r"(\d+\d+)+z"))
            tasks.spawn(serve_requests(mallory, text_reply("for mallory")), name="mallory")
            await alice_answers(link, tasks)

            def talk() -> tuple[list[bytes], float]:
                conn = http.client.HTTPConnection("127.0.0.1", web["http"], timeout=10)
                start = time.perf_counter()
                try:
                    answers = []
                    for user, digits in (("bob", DIGITS), ("alice", DIGITS), ("carol", "")):
                        conn.request("GET", "/whoami", headers={"x-user": user, "x-id": digits})
                        answers.append(conn.getresponse().read())
                    answers.append(request(conn, "/whoami", "z" + DIGITS + "z"))
                    return answers, time.perf_counter() - start
                finally:
                    conn.close()

            (bob, alice, carol, matched), elapsed = await asyncio.to_thread(talk)
            for unmatched in (bob, carol):
                assert json.loads(unmatched)["app"].startswith("web-")
            assert alice == b"for alice"
            assert matched == b"for mallory"
            assert elapsed < 3.0, f"4 requests took {elapsed:.2f} s"
            await tasks.close()

    asyncio.run(go())


def test_the_agent_refuses_a_lookahead_filter_naming_re2(web_agent: AgentProcess) -> None:
    async def go() -> None:
        async with agent_link(web_agent) as link:
            peer = link.session()
            flt = HttpFilter(header=r"x-user: (?=alice)")
            await peer.send(
                Subscribe(
                    request=RequestId(1), port=Port(8000), mode=IncomingMode.STEAL, http_filter=flt
                )
            )
            result = await peer.expect(SubscribeResult)
            assert not result.ok
            assert "lookahead (?=...) is not supported" in (result.error or "")
            assert "RE2 syntax" in (result.error or "")

    asyncio.run(go())
