"""The state dir follows every session change at once, at the cost of the change (not a
rewrite of every session), and a restarted operator, crashed or not, restores it."""

from __future__ import annotations

import asyncio
import json
import time
from pathlib import Path

import pytest

from podtap.core.ids import SessionId
from podtap.core.protocol import CloseReason, IncomingMode
from podtap.core.sessions import unix_principal
from podtap.operator.identity import Caller
from podtap.operator.records import SessionRecord, record_from_json, record_to_json
from podtap.operator.service import OperatorService, OperatorSettings
from tests.operator.inproc import OnePodCluster, granted, operator, started

SESSIONS = 1000
CHANGES = SESSIONS * 3 // 2  # every session starts, half of them end
ROOT = Caller(principal=unix_principal(0), name="root", admin=True)


class Rewrites:
    """Counts the atomic replacements of sessions.json (one per rewrite of the file)."""

    def __init__(self, monkeypatch: pytest.MonkeyPatch) -> None:
        self.count = 0
        replace = Path.replace

        def counting(path: Path, target: Path) -> Path:
            if Path(target).name == "sessions.json":
                self.count += 1
            return replace(path, target)

        monkeypatch.setattr(Path, "replace", counting)


async def start_sessions(service: OperatorService, count: int) -> list[SessionRecord]:
    """`count` sessions whose clients said hello (as the connect handler does it)."""
    records = []
    for _ in range(count):
        records.append(await started(service))
        await asyncio.sleep(0)  # each change on its own turn of the loop, as clients come
    return records


def saved(state: Path) -> list[str]:
    path = state / "operator" / "sessions.json"
    return [r["id"] for r in json.loads(path.read_text())] if path.exists() else []


def test_many_session_changes_cost_few_rewrites_and_survive_a_restart(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    rewrites = Rewrites(monkeypatch)

    async def go() -> list[str]:
        async with operator(tmp_path) as (service, _):
            start = time.monotonic()
            records = await start_sessions(service, SESSIONS)
            for record in records[::2]:
                await service.end(record, CloseReason.KILLED, "by the test")
                await asyncio.sleep(0)
            kept = sorted(r.label for r in records[1::2])
            took = time.monotonic() - start
            assert rewrites.count <= CHANGES // 10, (
                f"{rewrites.count} rewrites for {CHANGES} changes in {took:.2f} s"
            )
            return kept

    kept = asyncio.run(go())

    async def restart() -> None:
        async with operator(tmp_path) as (service, _):
            assert sorted(r.label for r in service.records.values()) == kept

    asyncio.run(restart())


def test_what_a_client_was_told_survives_an_operator_crash(tmp_path: Path) -> None:
    settings = OperatorSettings(state_dir=tmp_path / "operator")

    async def go() -> None:
        crashed = OperatorService(settings, OnePodCluster())  # never closed: as if SIGKILLed
        await crashed.start()
        try:
            records = await start_sessions(crashed, 3)
            await granted(crashed, records[0], 8000, IncomingMode.STEAL)
            await crashed.end(records[1], CloseReason.KILLED, "by the test")
            restarted = OperatorService(settings, OnePodCluster())
            await restarted.start()
            restored = {r.label: r.ports_text() for r in restarted.records.values()}
            await restarted.close()
        finally:
            await crashed.close()
        assert restored == {records[0].label: "8000 steal", records[2].label: "-"}

    asyncio.run(go())


def test_changes_just_before_shutdown_are_saved(tmp_path: Path) -> None:
    async def go() -> list[str]:
        async with operator(tmp_path) as (service, _):
            records = await start_sessions(service, 3)
            await service.end(records[0], CloseReason.KILLED, "by the test")
            return sorted(r.label for r in records[1:])

    kept = asyncio.run(go())
    assert sorted(saved(tmp_path)) == kept


def test_a_record_saved_before_principals_keeps_its_owner() -> None:
    """A state dir written by an older operator names the owner by uid; after the upgrade
    that owner (and only they, or an admin) still holds the session."""
    record = SessionRecord(
        id=SessionId(0xABC),
        owner="alice/alice@laptop",
        principal=unix_principal(1000),
        target="deployment/shop",
        namespace="default",
        pod="shop-1",
        client_version="1",
        created=1.0,
        last_seen=1.0,
    )
    old = record_to_json(record)
    del old["principal"]
    old["uid"] = 1000
    assert record_from_json(old, now=2.0).principal == "unix:1000"
    assert record_from_json(record_to_json(record), now=2.0).principal == "unix:1000"
