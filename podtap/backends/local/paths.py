"""Where a local cluster keeps its state: one directory per cluster name."""

from __future__ import annotations

import os
import re
from dataclasses import dataclass
from pathlib import Path

_NAME = re.compile(r"^[a-z0-9]([-a-z0-9]{0,30}[a-z0-9])?$")
DEFAULT_NAME = "default"


def state_root() -> Path:
    """PODTAP_STATE_HOME, else $XDG_RUNTIME_DIR/podtap, else /tmp/podtap-UID.

    Kept short on purpose: Unix socket paths are limited to 107 bytes."""
    if explicit := os.environ.get("PODTAP_STATE_HOME"):
        return Path(explicit)
    if runtime := os.environ.get("XDG_RUNTIME_DIR"):
        return Path(runtime) / "podtap"
    return Path(f"/tmp/podtap-{os.getuid()}")


def cluster_name(given: str | None) -> str:
    name = given or os.environ.get("PODTAP_LOCAL_NAME") or DEFAULT_NAME
    if not _NAME.fullmatch(name):
        raise ValueError(
            f"cluster name {name!r} is not valid: use 1-32 lower-case letters, digits and '-'"
        )
    return name


@dataclass(frozen=True, slots=True)
class ClusterPaths:
    root: Path

    @classmethod
    def for_name(cls, name: str) -> ClusterPaths:
        return cls(state_root() / "local" / name)

    @property
    def name(self) -> str:
        return self.root.name

    @property
    def api_socket(self) -> Path:
        return self.root / "api.sock"

    @property
    def forward_socket(self) -> Path:
        return self.root / "forward.sock"

    @property
    def operator_socket(self) -> Path:
        return self.root / "operator.sock"

    @property
    def pid_file(self) -> Path:
        return self.root / "node.pid"

    @property
    def node_log(self) -> Path:
        return self.root / "node.log"

    @property
    def objects_file(self) -> Path:
        return self.root / "objects.json"

    @property
    def pods_dir(self) -> Path:
        return self.root / "pods"

    def pod_dir(self, namespace: str, pod: str) -> Path:
        return self.pods_dir / f"{namespace}_{pod}"
