"""Audit events: one JSON line per session start/end/kill/subscribe/refusal."""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any


class AuditLog:
    def __init__(self, path: Path) -> None:
        self.path = path
        self._fh = open(path, "a", buffering=1, encoding="utf-8")  # noqa: SIM115

    def event(self, kind: str, **fields: Any) -> None:
        record = {
            "time": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
            "event": kind,
            **fields,
        }
        self._fh.write(json.dumps(record, default=str) + "\n")

    def close(self) -> None:
        self._fh.close()
