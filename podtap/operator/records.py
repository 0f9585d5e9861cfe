"""Session records: what the operator knows of every session, persisted in its state dir."""

from __future__ import annotations

import contextlib
import json
import time
from collections.abc import Callable, Collection, Iterable, Iterator, MutableMapping
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from podtap.core.ids import SessionId, format_session_id, parse_session_id
from podtap.core.protocol import HttpFilter, IncomingMode

COMPACT_AFTER = 1000  # journal lines; beyond, and beyond twice the records, a snapshot


@dataclass(slots=True)
class SubscriptionRecord:
    port: int
    mode: IncomingMode
    http_filter: HttpFilter | None
    since: float

    def describe(self) -> str:
        text = f"{self.port} {self.mode.value}"
        flt = self.http_filter
        if flt is not None:
            text += " " + describe_filter(flt)
        return text


def _unchanged() -> None:
    pass


class Subscriptions(MutableMapping[int, SubscriptionRecord]):
    """A session's subscriptions by port. Every change calls `changed`, which the store
    sets to journal the session: whoever changes a subscription cannot forget to."""

    def __init__(self) -> None:
        self._by_port: dict[int, SubscriptionRecord] = {}
        self.changed: Callable[[], None] = _unchanged

    def __getitem__(self, port: int) -> SubscriptionRecord:
        return self._by_port[port]

    def __setitem__(self, port: int, subscription: SubscriptionRecord) -> None:
        self._by_port[port] = subscription
        self.changed()

    def __delitem__(self, port: int) -> None:
        del self._by_port[port]
        self.changed()

    def __iter__(self) -> Iterator[int]:
        return iter(self._by_port)

    def __len__(self) -> int:
        return len(self._by_port)

    def __repr__(self) -> str:
        return f"Subscriptions({self._by_port!r})"


def describe_filter(flt: HttpFilter) -> str:
    """`header=x-user: alice`-style rendering for people."""
    parts = []
    if flt.header is not None:
        parts.append(f"header={flt.header}")
    if flt.path is not None:
        parts.append(f"path={flt.path}")
    if flt.method is not None:
        parts.append(f"method={flt.method}")
    if flt.all_of:
        parts.append("all_of(" + "; ".join(describe_filter(f) for f in flt.all_of) + ")")
    if flt.any_of:
        parts.append("any_of(" + "; ".join(describe_filter(f) for f in flt.any_of) + ")")
    return " ".join(parts)


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


@dataclass(slots=True)
class SessionRecord:
    id: SessionId
    owner: str  # whoami/k8s-user@host
    uid: int
    target: str  # deployment/shop
    namespace: str
    pod: str
    client_version: str
    created: float = field(default_factory=time.time)
    subscriptions: Subscriptions = field(default_factory=Subscriptions)
    connected_once: bool = False
    connected: bool = False
    last_seen: float = field(default_factory=time.time)
    restored: bool = False
    closed: str | None = None  # close reason once ended
    key: str | None = None  # the session key the client gave (`key`, `--key`), if any

    @property
    def label(self) -> str:
        return format_session_id(self.id)

    def ports_text(self) -> str:
        return ", ".join(s.describe() for _, s in sorted(self.subscriptions.items())) or "-"

    def to_json(self) -> dict[str, Any]:
        return {
            "id": self.label,
            "key": self.key,
            "owner": self.owner,
            "uid": self.uid,
            "target": self.target,
            "namespace": self.namespace,
            "pod": self.pod,
            "client_version": self.client_version,
            "created": self.created,
            "connected": self.connected,
            "last_seen": self.last_seen,
            "subscriptions": [
                {
                    "port": s.port,
                    "mode": s.mode.value,
                    "filter": _filter_to_json(s.http_filter),
                    "filter_text": describe_filter(s.http_filter) if s.http_filter else None,
                    "since": s.since,
                }
                for _, s in sorted(self.subscriptions.items())
            ],
            "ports": self.ports_text(),
        }

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> SessionRecord:
        record = cls(
            id=parse_session_id(data["id"]),
            owner=data["owner"],
            uid=data["uid"],
            target=data["target"],
            namespace=data["namespace"],
            pod=data["pod"],
            client_version=data["client_version"],
            created=data["created"],
            connected_once=True,
            connected=False,
            last_seen=time.time(),
            restored=True,
            key=data.get("key"),
        )
        for s in data["subscriptions"]:
            record.subscriptions[s["port"]] = SubscriptionRecord(
                s["port"], IncomingMode(s["mode"]), filter_from_json(s["filter"]), s["since"]
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
        records = [SessionRecord.from_json(d) for d in found.values()]
        for record in records:
            self._track(record)
        self._compact(records)
        return records

    def add(self, record: SessionRecord) -> None:
        """A new session: journaled now, and again whenever its subscriptions change."""
        self._track(record)
        self._put(record)

    def drop(self, record: SessionRecord) -> None:
        """`record` ended."""
        record.subscriptions.changed = _unchanged
        self._append({"drop": record.label})

    def close(self) -> None:
        self._compact(self._snapshot())
        self._journal.close()

    def _track(self, record: SessionRecord) -> None:
        record.subscriptions.changed = lambda: self._put(record)

    def _put(self, record: SessionRecord) -> None:
        self._append({"put": record.to_json()})

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
        tmp.write_text(json.dumps([r.to_json() for r in records if r.closed is None]))
        tmp.replace(self.path)
        self._journal.seek(0)
        self._journal.truncate()
        self._lines = 0
