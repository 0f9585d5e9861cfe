"""Inside the jail: make paths of this machine absent (`feature.fs.not_found`).

Each directory holding such a path gets a read-only overlay whose top layer has a
whiteout (a 0/0 character device, creatable in a user namespace) for it: `stat` and
`open` answer ENOENT and listings leave it out. The directory is read-only in the jail."""

from __future__ import annotations

import os
import stat
from pathlib import Path

from podtap.net.mounts import mount, overlay_path


def hide_paths(paths: list[str], *, scratch: Path) -> None:
    by_parent: dict[Path, list[str]] = {}
    for path in paths:
        target = Path(path)
        if os.path.lexists(target) and target.parent != Path("/"):
            by_parent.setdefault(target.parent, []).append(target.name)
    # shallow first: an overlay on a parent would cover one laid on its child
    for index, parent in enumerate(sorted(by_parent, key=lambda p: len(p.parts))):
        layer = scratch / f"hide{index}"
        layer.mkdir(parents=True)
        for name in by_parent[parent]:
            os.mknod(layer / name, stat.S_IFCHR | 0o000, os.makedev(0, 0))
        mount(
            "-t",
            "overlay",
            "overlay",
            "-o",
            f"ro,lowerdir={overlay_path(layer)}:{overlay_path(parent)}",
            str(parent),
        )
