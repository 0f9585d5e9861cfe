"""A port changing hands (on_concurrent_steal=override), as `operator status` and the audit
log show it, in process: both sides see the hand-off while it waits, and no session's row
claims the port once it moved."""

from __future__ import annotations

import asyncio
import time
from pathlib import Path
from typing import Any

from podtap.core.arbitration import OnConcurrentSteal
from podtap.core.ids import Port, RequestId
from podtap.core.protocol import IncomingMode, Subscribe
from podtap.core.sessions import Attach, SubscribeAsked, UnsubscribeAsked
from podtap.operator.records import SessionRecord
from podtap.operator.service import OperatorService
from tests.operator.inproc import audit_events, get, operator, started

STATUS = "/apis/operator.podtap.dev/v1/operators/operator"


async def attached(service: OperatorService, how: OnConcurrentSteal) -> SessionRecord:
    record = await started(service)
    await service.handle(Attach(session=record.id, on_concurrent_steal=how, now=time.time()))
    return record


async def ask(service: OperatorService, record: SessionRecord, request: int) -> None:
    frame = Subscribe(
        request=RequestId(request), port=Port(8000), mode=IncomingMode.STEAL, http_filter=None
    )
    await service.handle(SubscribeAsked(session=record.id, frame=frame, now=time.time()))


async def rows(sock: Path) -> dict[str, dict[str, Any]]:
    _, status = await asyncio.to_thread(get, sock, STATUS)
    return {s["id"]: s for s in status["sessions"]}


def steals(row: dict[str, Any]) -> list[int]:
    return [s["port"] for s in row["subscriptions"]]


def test_both_sides_see_the_handoff_until_the_holder_lets_go(tmp_path: Path) -> None:
    async def go() -> None:
        async with operator(tmp_path, handoff_grace=60) as (service, sock):
            alice = await attached(service, OnConcurrentSteal.ABORT)
            await ask(service, alice, 1)
            bob = await attached(service, OnConcurrentSteal.OVERRIDE)
            await ask(service, bob, 2)
            during = await rows(sock)
            giving, taking = during[alice.label], during[bob.label]
            assert steals(giving) == [8000] and steals(taking) == []
            assert [h["role"] for h in giving["handoffs"]] == ["giving"]
            assert [h["role"] for h in taking["handoffs"]] == ["taking"]
            assert giving["handoffs"][0]["taker"] == bob.label
            assert taking["handoffs"][0]["holders"] == [alice.label]
            assert "8000 going to alice/root@laptop in" in giving["ports"]
            assert "8000 handed over in" in taking["ports"]
            let_go = UnsubscribeAsked(session=alice.id, port=Port(8000), now=time.time())
            await service.handle(let_go)  # alice agrees: the port moves now
            after = await rows(sock)
            assert steals(after[alice.label]) == [] and after[alice.label]["handoffs"] == []
            assert steals(after[bob.label]) == [8000] and after[bob.label]["ports"] == "8000 steal"
            events = [(e["event"], e.get("session")) for e in audit_events(service)]
            assert ("handoff", alice.label) in events
            assert ("subscribe", bob.label) in events
            handoff = next(e for e in audit_events(service) if e["event"] == "handoff")
            assert handoff["to_session"] == bob.label and handoff["grace"] == 60

    asyncio.run(go())


def test_the_port_moves_after_the_grace(tmp_path: Path) -> None:
    async def go() -> None:
        async with operator(tmp_path, handoff_grace=0.3) as (service, sock):
            alice = await attached(service, OnConcurrentSteal.ABORT)
            await ask(service, alice, 1)
            bob = await attached(service, OnConcurrentSteal.OVERRIDE)
            await ask(service, bob, 2)
            assert steals((await rows(sock))[alice.label]) == [8000]
            await asyncio.sleep(0.6)
            after = await rows(sock)
            assert steals(after[alice.label]) == [] and steals(after[bob.label]) == [8000]
            evicted = [e for e in audit_events(service) if e["event"] == "evicted"]
            assert [(e["session"], e["by_session"]) for e in evicted] == [(alice.label, bob.label)]

    asyncio.run(go())
