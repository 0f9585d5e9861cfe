"""Session records in the operator's state dir: their JSON, a snapshot and a journal.

The records themselves are the session book's (`podtap.core.sessions`); this module only
writes and reads them."""

from __future__ import annotations

import contextlib
import json
import time
from collections.abc import Callable, Collection, Iterable
from dataclasses import asdict
from pathlib import Path
from typing import Any

from podtap.core.ids import Port, SessionId, format_session_id, parse_session_id
from podtap.core.protocol import HttpFilter, IncomingMode
from podtap.core.sessions import (
    Principal,
    SessionRecord,
    SessionState,
    SubscriptionRecord,
    unix_principal,
)

__all__ = [
    "RecordStore",
    "SessionRecord",
    "SubscriptionRecord",
    "filter_from_json",
    "record_from_json",
    "record_to_json",
]

COMPACT_AFTER = 1000  # journal lines; beyond, and beyond twice the records, a snapshot


def _filter_to_json(flt: HttpFilter | None) -> dict[str, Any] | None:
    return None if flt is None else asdict(flt)


def filter_from_json(data: dict[str, Any] | None) -> HttpFilter | None:
    """An `HttpFilter` from its `dataclasses.asdict` form (records, connect requests)."""
    if data is None:
        return None
    return HttpFilter(
        header=data.get("header"),
        path=data.get("path"),
        method=data.get("method"),
        all_of=tuple(f for f in map(filter_from_json, data.get("all_of", ())) if f),
        any_of=tuple(f for f in map(filter_from_json, data.get("any_of", ())) if f),
    )


def record_to_json(record: SessionRecord) -> dict[str, Any]:
    """A record as the state dir keeps it (and `operator status` starts from)."""
    return {
        "id": record.label,
        "key": record.key,
        "owner": record.owner,
        "principal": record.principal,
        "target": record.target,
        "namespace": record.namespace,
        "pod": record.pod,
        "client_version": record.client_version,
        "created": record.created,
        "connected": record.connected,
        "last_seen": record.last_seen,
        "subscriptions": [
            {
                "port": s.port,
                "mode": s.mode.value,
                "filter": _filter_to_json(s.http_filter),
                "filter_text": s.http_filter.describe(table=True) if s.http_filter else None,
                "since": s.since,
            }
            for _, s in sorted(record.subscriptions.items())
        ],
        "ports": record.ports_text(),
    }


def record_from_json(data: dict[str, Any], *, now: float) -> SessionRecord:
    """A record from the state dir, as an operator restart finds it: no client."""
    record = SessionRecord(
        id=parse_session_id(data["id"]),
        owner=data["owner"],
        # records written before principals name their owner by uid
        principal=Principal(data["principal"])
        if "principal" in data
        else unix_principal(data["uid"]),
        target=data["target"],
        namespace=data["namespace"],
        pod=data["pod"],
        client_version=data["client_version"],
        created=data["created"],
        last_seen=now,
        state=SessionState.DETACHED,
        connected_once=True,
        restored=True,
        key=data.get("key"),
    )
    for s in data["subscriptions"]:
        port = Port(s["port"])
        record.subscriptions[port] = SubscriptionRecord(
            port, IncomingMode(s["mode"]), filter_from_json(s["filter"]), s["since"]
        )
    return record


class RecordStore:
    """Open sessions in the state dir: a snapshot (`sessions.json`) and a journal of the
    changes since (`sessions.journal`, one JSON line per change).

    A change appends one line at once, so whatever a client was told (its session, a
    subscription) survives an operator crash, and it costs the size of one record.
    Rewriting the whole file on every change made n changes cost O(n²): 2,000 sessions
    expiring together stalled the operator, and every relay with it, for 17 s. Once the
    journal outgrows the snapshot, both are replaced by a new snapshot (O(n) every n
    changes or more: amortised O(1) per change)."""

    def __init__(self, path: Path, *, snapshot: Callable[[], Collection[SessionRecord]]) -> None:
        self.path = path
        self.journal_path = path.with_suffix(".journal")
        self._snapshot = snapshot
        self._journal = open(self.journal_path, "a", buffering=1, encoding="utf-8")  # noqa: SIM115
        self._lines = 0

    def load(self) -> list[SessionRecord]:
        """The records at the last change, then a fresh snapshot of them."""
        found: dict[str, dict[str, Any]] = {}
        if self.path.exists():
            found = {d["id"]: d for d in json.loads(self.path.read_text())}
        for line in self.journal_path.read_text().splitlines():
            with contextlib.suppress(ValueError):  # the line a crash cut short
                change = json.loads(line)
                if "put" in change:
                    found[change["put"]["id"]] = change["put"]
                else:
                    found.pop(change["drop"], None)
        now = time.time()
        records = [record_from_json(d, now=now) for d in found.values()]
        self._compact(records)
        return records

    async def restore(self) -> list[SessionRecord]:
        return self.load()

    async def aclose(self) -> None:
        self.close()

    def put(self, record: SessionRecord) -> None:
        """`record` is new or changed: journaled before anyone is told."""
        self._append({"put": record_to_json(record)})

    def drop(self, session: SessionId) -> None:
        """`session` ended."""
        self._append({"drop": format_session_id(session)})

    def close(self) -> None:
        self._compact(self._snapshot())
        self._journal.close()

    def _append(self, change: dict[str, Any]) -> None:
        self._journal.write(json.dumps(change) + "\n")
        self._lines += 1
        live = self._snapshot()
        if self._lines > max(COMPACT_AFTER, 2 * len(live)):
            self._compact(live)

    def _compact(self, records: Iterable[SessionRecord]) -> None:
        """A crash between the rename and the truncation replays the journal onto the
        new snapshot, which changes nothing: the journal ends in the state it holds."""
        tmp = self.path.with_suffix(".tmp")
        tmp.write_text(json.dumps([record_to_json(r) for r in records if r.closed is None]))
        tmp.replace(self.path)
        self._journal.seek(0)
        self._journal.truncate()
        self._lines = 0
