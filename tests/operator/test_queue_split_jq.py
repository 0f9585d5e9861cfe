"""``jq_filter`` through the operator on a real SQS (moto), seen with ``podtap queues status``.

Alice asks only a jq program on the message body, Bob a ``message_filter`` and a jq
program (both must match): 60 messages published to the original reach exactly the queue
the programs say, the rest the fallback. While they run, the real CLI (``podtap queues
status --operator unix:...``) lists one row per session with its user, queues, filter and
the workload's pods; a namespace without splits says so.
"""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
from pathlib import Path
from typing import Any

from podtap.core.config.queues import QueueSplitConfig
from podtap.core.ids import format_session_id
from podtap.core.protocol import CloseReason
from podtap.operator.service import ConnectOptions
from podtap.testing.brokers import Sqs
from podtap.testing.localcluster import podtap_argv
from tests.operator.inproc import operator
from tests.operator.test_queue_splits import (
    _client_config,
    _peek,
    _publish,
    _queues,
    _session,
    _until,
    sqs_broker,
    sqs_split,
)

__all__ = ["sqs_broker"]  # the module's moto server, shared with the split tests' helpers
LOW = "(.Body | tonumber) < 20"
HIGH = "(.Body | tonumber) >= 20"


async def _cli(sock: Path, *args: str) -> str:
    """``podtap queues status`` as a user runs it, against the in-process operator."""
    argv = podtap_argv("queues", "status", "--operator", f"unix:{sock}", *args)
    env = {**os.environ, "COLUMNS": "300"}  # one table line per row, nothing folded
    done = await asyncio.to_thread(
        subprocess.run, argv, capture_output=True, text=True, timeout=60, env=env
    )
    assert done.returncode == 0, done.stderr
    return done.stdout


def test_a_jq_filter_on_the_body_takes_exactly_its_messages(
    tmp_path: Path, sqs_broker: Sqs
) -> None:
    asyncio.run(_jq_split(tmp_path, _client_config(sqs_broker)))


async def _jq_split(tmp_path: Path, config: dict[str, str]) -> None:
    async with sqs_split(config) as (original, cluster, client):
        async with operator(tmp_path, cluster=cluster) as (service, sock):
            low = QueueSplitConfig(queue_id="orders", jq_filter=LOW)
            high = QueueSplitConfig(
                queue_id="orders", message_filter={"who": "^bob$"}, jq_filter=HIGH
            )
            alice = await _session(service, ConnectOptions(splits=(low,)))
            bob = await _session(service, ConnectOptions(splits=(high,)), whoami="bob")
            mine = {r.id: f"pt-{format_session_id(r.id)}-{original}" for r in (alice, bob)}
            fallback = f"pt-fallback-{original}"

            rows: list[dict[str, Any]] = json.loads(await _cli(sock, "-A", "-o", "json"))
            by_session = {row["session"]: row for row in rows}
            assert set(by_session) == {format_session_id(r.id) for r in (alice, bob)}
            row = by_session[format_session_id(bob.id)]
            assert (row["namespace"], row["target"], row["phase"]) == (
                "default", "deployment/consumer", "active"
            )  # fmt: skip
            assert row["user"] == bob.owner and row["pods"] == {"patched": 1, "ready": 1}
            assert row["queues"] == {original: mine[bob.id]}
            assert row["filters"]["orders"]["jq_filter"] == HIGH
            assert row["filters"]["orders"]["message_filter"] == {"who": "^bob$"}
            table = await _cli(sock, "-n", "default")
            assert f"jq '{LOW}'" in table and f"who=^bob$, jq '{HIGH}'" in table
            assert f"{original}→{mine[alice.id]}" in table and " 1/1" in table
            assert (await _cli(sock, "-n", "elsewhere")).strip() == "No queue splits."

            await _publish(client, original, 60)
            split_queues = [mine[alice.id], mine[bob.id], fallback]

            async def routed() -> bool:
                return [await client.depth(q) for q in split_queues] == [20, 13, 27]

            await _until(routed, what="60 messages routed", timeout=60)
            bobs = [n for n in range(20, 60) if n % 3 == 1]
            assert [n for n, _ in await _peek(client, mine[alice.id], 20)] == list(range(20))
            assert [n for n, _ in await _peek(client, mine[bob.id], 13)] == bobs
            rest = [n for n in range(20, 60) if n not in bobs]
            assert [n for n, _ in await _peek(client, fallback, 27)] == rest

            for record in (alice, bob):
                await service.end(record, CloseReason.CLIENT_EXITED, "done")

            async def over() -> bool:
                return not service.splits.splits and not await _queues(client, *split_queues)

            await _until(over, what="the split over, its queues deleted", timeout=90)
        assert len(await _peek(client, original, 60)) == 60  # all drained back, none lost
