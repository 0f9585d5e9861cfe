"""The one place that starts background tasks: every task is named and owned."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Coroutine
from typing import Any, TypeVar

T = TypeVar("T")
log = logging.getLogger(__name__)


class TaskSet:
    """Owns a set of named tasks; `close()` cancels and awaits all of them."""

    def __init__(self) -> None:
        self._tasks: set[asyncio.Task[Any]] = set()

    def spawn(self, coro: Coroutine[Any, Any, T], *, name: str) -> asyncio.Task[T]:
        task = asyncio.get_running_loop().create_task(coro, name=name)
        self._tasks.add(task)
        task.add_done_callback(self._done)
        return task

    def adopt(self, task: asyncio.Task[Any]) -> None:
        """Own a task somebody else started (e.g. asyncio's per-connection handlers)."""
        self._tasks.add(task)
        task.add_done_callback(self._done)

    def _done(self, task: asyncio.Task[Any]) -> None:
        self._tasks.discard(task)
        if not task.cancelled() and task.exception() is not None:
            log.error("task %s failed", task.get_name(), exc_info=task.exception())

    def cancel_all(self) -> None:
        """Cancel every task but the calling one (which may be one of ours)."""
        current = asyncio.current_task()
        for task in list(self._tasks):
            if task is not current:
                task.cancel()

    def __len__(self) -> int:
        return len(self._tasks)

    async def close(self) -> None:
        tasks = list(self._tasks)
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        self._tasks.clear()


_default = TaskSet()


def spawn(
    coro: Coroutine[Any, Any, T], *, name: str, owner: TaskSet | None = None
) -> asyncio.Task[T]:
    """Start `coro` as a named task owned by `owner` (or the process-wide set)."""
    return (owner or _default).spawn(coro, name=name)
