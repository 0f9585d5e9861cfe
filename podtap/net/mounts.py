"""Mount helpers shared by pod sandboxes and the exec jail."""

from __future__ import annotations

import ctypes
import os
import subprocess
from pathlib import Path

MNT_DETACH = 2


def mount(*args: str) -> None:
    subprocess.run(["mount", *args], check=True, capture_output=True, text=True)


def overlay_path(path: Path) -> str:
    """`path` escaped for an overlay option (`lowerdir=...`): `\\`, `:` and `,`."""
    return str(path).replace("\\", "\\\\").replace(":", "\\:").replace(",", "\\,")


def _bound_copy(parent: Path, new: Path) -> None:
    """What the overlay gives, when a user namespace refuses it (a directory holding mounts
    of the host, as `/run` holds `/run/netns`): a tmpfs with each entry of `parent` bound in
    (symlinks copied), laid on `parent`; new entries live in the tmpfs."""
    new.mkdir(parents=True)
    mount("-t", "tmpfs", "-o", "mode=0755", "tmpfs", str(new))
    for entry in parent.iterdir():
        there = new / entry.name
        if entry.is_symlink():
            there.symlink_to(entry.readlink())
            continue
        if entry.is_dir():
            there.mkdir()
        else:
            there.touch()
        mount("--rbind", str(entry), str(there))
    mount("--rbind", str(new), str(parent))


def ensure_mountpoint(target: Path, *, is_dir: bool, scratch: Path) -> None:
    """Create `target` in this mount namespace only: if it does not exist, lay a private
    overlay on its nearest existing parent directory so the host's tree is not touched."""
    if target.exists():
        return
    parent = target.parent
    while not parent.exists():
        parent = parent.parent
    if parent == Path("/"):
        raise RuntimeError(f"cannot create {target}: its parent must exist below /")
    index = len(list(scratch.glob("o*")))
    upper, work = scratch / f"o{index}" / "upper", scratch / f"o{index}" / "work"
    upper.mkdir(parents=True)
    work.mkdir()
    try:
        mount(
            "-t",
            "overlay",
            "overlay",
            "-o",
            f"lowerdir={overlay_path(parent)},upperdir={overlay_path(upper)},"
            f"workdir={overlay_path(work)}",
            str(parent),
        )
    except subprocess.CalledProcessError:
        _bound_copy(parent, scratch / f"o{index}" / "tmp")
    if is_dir:
        target.mkdir(parents=True)
    else:
        target.parent.mkdir(parents=True, exist_ok=True)
        target.touch()


def own_mounts(mountinfo: str, *, host_mountinfo: str) -> list[str]:
    """Mount points in `mountinfo` that are the process's own (not inherited from the host
    view, not overlays laid to create mount points), outside /proc, /sys and /dev."""

    def entries(text: str) -> list[tuple[str, str, str, str]]:
        out = []
        for line in text.splitlines():
            left, _, right = line.partition(" - ")
            fields, tail = left.split(), right.split()
            if len(fields) >= 5 and tail:
                out.append((fields[4], fields[3], tail[0], tail[1] if len(tail) > 1 else ""))
        return out

    host = {(point, root, source) for point, root, _, source in entries(host_mountinfo)}
    found = []
    for point, root, fstype, source in entries(mountinfo):
        if (point, root, source) in host or fstype == "overlay" or point == "/":
            continue
        if point.split("/")[1] in ("proc", "sys", "dev"):
            continue
        found.append(point.replace("\\040", " "))
    return sorted(set(found))


def mounts_under(path: Path, mountinfo: str) -> list[str]:
    """Mount points at or below `path` in `mountinfo` (this namespace's), deepest first."""
    top = str(path).rstrip("/")
    points = {
        fields[4].replace("\\040", " ")
        for line in mountinfo.splitlines()
        if len(fields := line.split()) > 4
    }
    inside = [p for p in points if p == top or p.startswith(top + "/")]
    return sorted(inside, key=lambda p: p.count("/"), reverse=True)


def detach_mounts_under(path: Path) -> None:
    """Lazily unmount everything mounted at or below `path` in this mount namespace, so the
    directory can be removed (rmdir of a mount point is EBUSY). Best effort: a mount that
    will not go leaves its directory, and the next `podtap exec` sweeps it."""
    libc = ctypes.CDLL(None, use_errno=True)
    for point in mounts_under(path, Path("/proc/self/mountinfo").read_text()):
        libc.umount2(os.fsencode(point), MNT_DETACH)
