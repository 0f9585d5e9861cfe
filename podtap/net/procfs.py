"""What /proc tells about another process."""

from __future__ import annotations

import os
from pathlib import Path


def read_environ(pid: int) -> dict[str, str]:
    """The environment `pid` started with (names and values as the OS gives them)."""
    raw = Path(f"/proc/{pid}/environ").read_bytes()
    pairs = (item.split(b"=", 1) for item in raw.split(b"\0") if b"=" in item)
    return {os.fsdecode(k): os.fsdecode(v) for k, v in pairs}
