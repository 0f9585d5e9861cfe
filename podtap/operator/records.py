"""Session records: what the operator knows of every session, persisted in its state dir."""

from __future__ import annotations

import json
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from podtap.core.ids import SessionId, format_session_id, parse_session_id
from podtap.core.protocol import HttpFilter, IncomingMode


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


def _filter_from_json(data: dict[str, Any] | None) -> HttpFilter | None:
    if data is None:
        return None
    return HttpFilter(
        header=data.get("header"),
        path=data.get("path"),
        method=data.get("method"),
        all_of=tuple(f for f in map(_filter_from_json, data.get("all_of", ())) if f),
        any_of=tuple(f for f in map(_filter_from_json, data.get("any_of", ())) if f),
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
    subscriptions: dict[int, SubscriptionRecord] = field(default_factory=dict)
    connected_once: bool = False
    connected: bool = False
    last_seen: float = field(default_factory=time.time)
    restored: bool = False
    closed: str | None = None  # close reason once ended

    @property
    def label(self) -> str:
        return format_session_id(self.id)

    def ports_text(self) -> str:
        return ", ".join(s.describe() for _, s in sorted(self.subscriptions.items())) or "-"

    def to_json(self) -> dict[str, Any]:
        return {
            "id": self.label,
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
        )
        for s in data["subscriptions"]:
            record.subscriptions[s["port"]] = SubscriptionRecord(
                s["port"], IncomingMode(s["mode"]), _filter_from_json(s["filter"]), s["since"]
            )
        return record


class RecordStore:
    """Open sessions as one JSON file, rewritten atomically on every change."""

    def __init__(self, path: Path) -> None:
        self.path = path

    def load(self) -> list[SessionRecord]:
        if not self.path.exists():
            return []
        return [SessionRecord.from_json(d) for d in json.loads(self.path.read_text())]

    def save(self, records: list[SessionRecord]) -> None:
        tmp = self.path.with_suffix(".tmp")
        tmp.write_text(json.dumps([r.to_json() for r in records if r.closed is None], indent=1))
        tmp.replace(self.path)
