"""Where the operator keeps its session records: a state dir (the embedded operator's
journal, `records.RecordStore`) or `PodtapSession` objects on the Kubernetes API.

The book tells the store of every change at once (`put`, `drop`), and the store must never
make the relay wait for the API server: changes are written behind by one task, the latest
state of each session only (a session that changes ten times while a write is on the way
costs one more write, not ten). `aclose` writes what is left before the operator exits.
"""

from __future__ import annotations

import asyncio
import logging
import time
from typing import Any, Protocol

from podtap.backends.kubernetes.rest import ApiError, Rest
from podtap.core.ids import SessionId, format_session_id
from podtap.core.sessions import SessionRecord
from podtap.net.tasks import TaskSet
from podtap.operator.session_objects import (
    COLLECTION,
    MANAGED_BY,
    object_name,
    record_of,
    session_object,
)

log = logging.getLogger(__name__)
RETRIES = 5


class SessionStore(Protocol):
    async def restore(self) -> list[SessionRecord]:
        """The records saved before this operator started (an operator restart, or a new
        leader): the sessions it resumes."""
        ...

    def put(self, record: SessionRecord) -> None: ...

    def drop(self, session: SessionId) -> None: ...

    async def aclose(self) -> None: ...


class CrdSessionStore:
    """Session records as cluster-scoped `PodtapSession` objects."""

    def __init__(self, rest: Rest) -> None:
        self._rest = rest
        self._pending: dict[str, dict[str, Any] | None] = {}  # name -> object, None: delete
        self._versions: dict[str, str] = {}
        self._wake = asyncio.Event()
        self._idle = asyncio.Event()
        self._idle.set()
        self._tasks = TaskSet()
        self._writer: asyncio.Task[None] | None = None

    async def restore(self) -> list[SessionRecord]:
        selector = ",".join(f"{k}={v}" for k, v in MANAGED_BY.items())
        listed = await self._rest.get(COLLECTION, query=[("labelSelector", selector)])
        now = time.time()
        records: list[SessionRecord] = []
        for obj in listed.get("items") or []:
            name = obj["metadata"]["name"]
            self._versions[name] = obj["metadata"].get("resourceVersion", "")
            record = record_of(obj, now=now)
            if record is None:
                log.warning("PodtapSession %s holds no record this operator can read", name)
            elif record.closed is None:
                records.append(record)
        self._writer = self._tasks.spawn(self._write_loop(), name="session objects")
        return records

    def put(self, record: SessionRecord) -> None:
        self._queue(object_name(record.label), session_object(record))

    def drop(self, session: SessionId) -> None:
        self._queue(object_name(format_session_id(session)), None)

    def _queue(self, name: str, obj: dict[str, Any] | None) -> None:
        self._pending[name] = obj
        self._idle.clear()
        self._wake.set()

    async def flushed(self) -> None:
        """Wait until every change told so far is written (or given up)."""
        await self._idle.wait()

    async def aclose(self) -> None:
        if self._writer is not None and self._pending:
            try:
                async with asyncio.timeout(10):
                    await self.flushed()
            except TimeoutError:
                log.warning("%d session objects not written at exit", len(self._pending))
        await self._tasks.close()

    async def _write_loop(self) -> None:
        while True:
            await self._wake.wait()
            self._wake.clear()
            while self._pending:
                name, obj = next(iter(self._pending.items()))
                del self._pending[name]
                try:
                    await (self._delete(name) if obj is None else self._write(name, obj))
                except (ApiError, OSError) as exc:
                    log.warning("PodtapSession %s not written: %s", name, exc)
            self._idle.set()

    async def _delete(self, name: str) -> None:
        self._versions.pop(name, None)
        try:
            await self._rest.call("DELETE", f"{COLLECTION}/{name}")
        except ApiError as exc:
            if exc.code != 404:
                raise

    async def _write(self, name: str, obj: dict[str, Any]) -> None:
        """Create or replace the object, then its status (a subresource): a stale version
        (409) is read again and the write retried."""
        path = f"{COLLECTION}/{name}"
        for _ in range(RETRIES):
            version = self._versions.get(name)
            try:
                if version is None:
                    written = await self._rest.call("POST", COLLECTION, body=obj)
                else:
                    body = {**obj, "metadata": {**obj["metadata"], "resourceVersion": version}}
                    written = await self._rest.call("PUT", path, body=body)
                version = written["metadata"]["resourceVersion"]
                status = {**obj, "metadata": {"name": name, "resourceVersion": version}}
                written = await self._rest.call("PUT", f"{path}/status", body=status)
                self._versions[name] = written["metadata"]["resourceVersion"]
                return
            except ApiError as exc:
                if exc.code != 409:
                    raise
                current = await self._rest.get_or_none(path)
                if current is None:
                    self._versions.pop(name, None)
                else:
                    self._versions[name] = current["metadata"]["resourceVersion"]
        raise ApiError(
            code=409, reason="Conflict", message=f"gave up after {RETRIES} conflicts", status={}
        )
