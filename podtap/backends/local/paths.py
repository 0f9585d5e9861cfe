"""Where a local cluster keeps its state: one directory per cluster name."""

from __future__ import annotations

import contextlib
import os
import re
import stat
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


class UnsafeStateDir(ValueError):
    """The state directory is not this user's own: another account could have planted pid
    files (that `local down` would kill), sockets or logs in it, or read what it holds."""


def check_private(path: Path, *, create: bool = False) -> Path:
    """`path` if it is a directory of ours that nobody else may write to; with `create`,
    made (mode 0700) when missing. A missing directory is fine: there is nothing to trust."""
    if create:
        path.parent.mkdir(parents=True, exist_ok=True)
        with contextlib.suppress(FileExistsError):
            path.mkdir(mode=0o700)
    try:
        st = os.lstat(path)
    except FileNotFoundError:
        return path
    euid = os.geteuid()
    if stat.S_ISLNK(st.st_mode):
        problem = "is a symbolic link"
    elif not stat.S_ISDIR(st.st_mode):
        problem = "is not a directory"
    elif st.st_uid != euid:
        problem = f"belongs to uid {st.st_uid}, not to you (uid {euid})"
    elif st.st_mode & 0o022:
        problem = f"can be written by others (mode {stat.S_IMODE(st.st_mode):o})"
    else:
        return path
    raise UnsafeStateDir(
        f"podtap's state directory {path} {problem}: another account may have made it; "
        "remove it, or set PODTAP_STATE_HOME to a directory of your own"
    )


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
        """The paths of cluster `name`; UnsafeStateDir if the state root is not ours."""
        return cls(check_private(state_root()) / "local" / name)

    def make(self) -> None:
        """Create the cluster's directory, mode 0700, in a state root that is ours."""
        check_private(self.root.parent.parent, create=True)
        self.root.mkdir(parents=True, exist_ok=True, mode=0o700)
        check_private(self.root)

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
    def pid_file(self) -> Path:
        return self.root / "node.pid"

    @property
    def node_log(self) -> Path:
        return self.root / "node.log"

    @property
    def objects_file(self) -> Path:
        return self.root / "objects.json"

    @property
    def api_snapshot(self) -> Path:
        """The Kubernetes API's objects (the cluster's one store), saved as JSON."""
        return self.root / "api.json"

    @property
    def api_port_file(self) -> Path:
        return self.root / "api.port"

    @property
    def pki_dir(self) -> Path:
        return self.root / "pki"

    @property
    def kubeconfig(self) -> Path:
        """The admin kubeconfig (0600, like the rest of the state directory)."""
        return self.root / "kubeconfig"

    @property
    def pods_dir(self) -> Path:
        return self.root / "pods"

    def pod_dir(self, namespace: str, pod: str) -> Path:
        return self.pods_dir / f"{namespace}_{pod}"
