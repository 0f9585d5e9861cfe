"""`feature.fs` for `podtap exec` (pure): which paths the jail reads from the target.

The jail cannot intercept every `open()` of the app, so remote files are a set of trees
known before the app starts: the defaults (the pod's /etc/hostname, its service-account
directory and the container's own mount points: ConfigMaps, Secrets, ...) plus the
`read_only`/`read_write` entries that name a path. Inside those trees each path follows
the rules, first match wins: `not_found` (absent), `local` (this machine's file, or absent
if it has none), else remote. Literal `not_found` paths outside the trees are hidden on
this machine too.

A rule can name paths when it is an absolute path or an anchored literal prefix
(`/app/config`, `^/app/config`, `^/srv/data/.*`, `^/etc/app\\.conf$`); other regexes only
take effect inside the trees, and say so in a warning."""

from __future__ import annotations

import posixpath
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from enum import StrEnum

from podtap.core.config.models import FsConfig, FsMode

#: Remote by default (mode read/write), besides the container's own mount points.
DEFAULT_REMOTE = ("/etc/hostname", "/var/run/secrets/kubernetes.io/serviceaccount")
#: The jail brings its own (built by the network feature from the pod's, or this machine's).
JAIL_OWN = frozenset({"/etc/resolv.conf", "/etc/hosts", "/etc/nsswitch.conf"})

_TAILS = ("(/.*)?", "(/.*)", "/.*", "(/|$)", "/?", "/")
_META = set(".^$*+?{}[]|()\\")


class Access(StrEnum):
    REMOTE = "remote"
    LOCAL = "local"
    NOT_FOUND = "not_found"


def literal_path(regex: str) -> str | None:
    """The path a regex names when it is an absolute path or an anchored literal prefix
    (a trailing `$`, `/`, `/.*`, `(/.*)?` is allowed; `\\.` and an unescaped `.` are a
    dot); None when it matches things a path cannot list."""
    text = regex.removeprefix("^")
    text = text.removesuffix("$")
    for tail in _TAILS:
        if text.endswith(tail) and len(text) > len(tail):
            text = text.removesuffix(tail)
            break
    out: list[str] = []
    escaped = False
    for char in text:
        if escaped:
            if char.isalnum():  # \d, \w, \s, ...: a class, not a character
                return None
            out.append(char)
            escaped = False
        elif char == "\\":
            escaped = True
        elif char in _META and char != ".":
            return None
        else:
            out.append(char)
    path = "".join(out)
    if escaped or not path.startswith("/") or "/../" in f"{path}/" or "\0" in path:
        return None
    return posixpath.normpath(path) if path != "/" else "/"


def is_under(path: str, root: str) -> bool:
    return root == "/" or path == root or path.startswith(root.rstrip("/") + "/")


@dataclass(frozen=True, slots=True)
class FsPlan:
    """What the jail does with remote files, decided before it starts."""

    remote: tuple[str, ...]  # trees read from the target (none nested in another)
    hidden: tuple[str, ...]  # paths of this machine the jail makes absent
    warnings: tuple[str, ...]


@dataclass(frozen=True, kw_only=True)
class FsRules:
    mode: FsMode = FsMode.READ
    read_only: tuple[str, ...] = ()
    read_write: tuple[str, ...] = ()
    local: tuple[str, ...] = ()
    not_found: tuple[str, ...] = ()

    @classmethod
    def from_config(cls, config: FsConfig) -> FsRules:
        return cls(
            mode=config.mode,
            read_only=tuple(config.read_only),
            read_write=tuple(config.read_write),
            local=tuple(config.local),
            not_found=tuple(config.not_found),
        )

    @staticmethod
    def _any(patterns: Iterable[str], path: str) -> bool:
        return any(re.search(p, path) for p in patterns)

    def access(self, path: str) -> Access:
        """A path inside the remote trees: not_found, then local, then remote."""
        if self.mode is FsMode.LOCAL:
            return Access.LOCAL
        if self._any(self.not_found, path):
            return Access.NOT_FOUND
        if self._any(self.local, path):
            return Access.LOCAL
        return Access.REMOTE

    def plan(self, mounts: Sequence[str]) -> FsPlan:
        """The remote trees and hidden paths for a container whose own mount points are
        `mounts`, with a warning for each rule the snapshot cannot follow."""
        if self.mode is FsMode.LOCAL:
            return FsPlan(remote=(), hidden=(), warnings=())
        warnings: list[str] = []
        if self.mode is FsMode.WRITE:
            warnings.append(
                "feature.fs.mode write: remote files are read-only in podtap (treated as `read`)"
            )
        if self.read_write:
            warnings.append(
                "feature.fs.read_write: remote files are read-only in podtap "
                "(entries treated as read_only)"
            )
        candidates: list[str] = []
        if self.mode is not FsMode.LOCAL_WITH_OVERRIDES:
            candidates += [*DEFAULT_REMOTE, *mounts]
        for key, patterns in (("read_only", self.read_only), ("read_write", self.read_write)):
            for pattern in patterns:
                path = literal_path(pattern)
                if path is None:
                    warnings.append(
                        f"feature.fs.{key} {pattern!r} is not an absolute path or an anchored "
                        "literal prefix: podtap cannot list what it matches, ignored"
                    )
                elif path == "/":
                    warnings.append(f"feature.fs.{key} {pattern!r}: the whole root, ignored")
                else:
                    candidates.append(path)
        wanted = sorted(
            {
                path
                for path in candidates
                if path not in JAIL_OWN and self.access(path) is Access.REMOTE
            },
            key=lambda p: (p.count("/"), p),
        )
        remote: list[str] = []
        for path in wanted:
            if not any(is_under(path, root) for root in remote):
                remote.append(path)
        hidden: list[str] = []
        for pattern in self.not_found:
            path = literal_path(pattern)
            if path is None or path == "/":
                warnings.append(
                    f"feature.fs.not_found {pattern!r} is not a path: it hides matching "
                    "files inside the remote copies only"
                )
            elif posixpath.dirname(path) == "/":
                warnings.append(
                    f"feature.fs.not_found {pattern!r}: a top-level directory cannot be "
                    "hidden, only paths below one"
                )
            elif not any(is_under(path, root) for root in remote) and path not in hidden:
                hidden.append(path)
        return FsPlan(remote=tuple(remote), hidden=tuple(hidden), warnings=tuple(warnings))
