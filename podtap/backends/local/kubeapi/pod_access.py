"""What the API server needs from whoever runs the pods (the node), for the pod streams.

Its own module so that the streams (`streams.py`) and the protocols they speak
(`execws.py`, `portforward.py`) depend on it, not on each other."""

from __future__ import annotations

from pathlib import Path
from typing import Protocol


class PodAccess(Protocol):
    """What the node answers about its running pods (`LookupError`: not running)."""

    def log_path(self, namespace: str, pod: str, container: str) -> Path: ...
    def running(self, namespace: str, pod: str, container: str) -> bool: ...
    def exec_argv(
        self, namespace: str, pod: str, container: str
    ) -> tuple[list[str], dict[str, str]]: ...
    def pod_ip(self, namespace: str, pod: str) -> str: ...
