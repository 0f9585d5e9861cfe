"""Rules the lint step cannot see (issue 11): every task named and owned, small modules."""

from __future__ import annotations

import ast
from pathlib import Path

PACKAGE = Path(__file__).resolve().parents[1] / "podtap"
TASKS = PACKAGE / "net" / "tasks.py"  # the one place that starts tasks
MAX_LINES = 400


def _modules() -> list[Path]:
    return sorted(PACKAGE.rglob("*.py"))


def test_tasks_start_only_through_the_spawn_helper() -> None:
    """``loop.create_task`` / ``asyncio.ensure_future`` anywhere but net/tasks.py would start
    a task nobody names or owns (ruff's banned-api only sees the ``asyncio.`` spelling)."""
    found = []
    for path in _modules():
        if path == TASKS:
            continue
        for node in ast.walk(ast.parse(path.read_text(), str(path))):
            if (
                isinstance(node, ast.Call)
                and isinstance(node.func, ast.Attribute | ast.Name)
                and (getattr(node.func, "attr", None) or getattr(node.func, "id", None))
                in ("create_task", "ensure_future")
            ):
                found.append(f"{path.relative_to(PACKAGE.parent)}:{node.lineno}")
    assert found == [], "start tasks with podtap.net.tasks.spawn / TaskSet.spawn: " + ", ".join(
        found
    )


def test_no_module_is_over_the_cap() -> None:
    over = [
        f"{path.relative_to(PACKAGE.parent)} ({n} lines)"
        for path in _modules()
        if (n := len(path.read_text().splitlines())) > MAX_LINES
    ]
    assert over == [], f"split modules over {MAX_LINES} lines: " + ", ".join(over)
