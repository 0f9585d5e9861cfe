"""What this machine can do for podtap: each check says how to fix what is missing."""

from __future__ import annotations

import ctypes
import os
import platform
import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path


@dataclass(frozen=True, slots=True)
class Check:
    name: str
    ok: bool
    detail: str
    fix: str = ""
    required: bool = True


def _kernel() -> Check:
    release = platform.release()
    try:
        major, minor = (int(x) for x in release.split(".")[:2])
    except ValueError:
        return Check("kernel", False, f"cannot read the version {release!r}", required=False)
    ok = (major, minor) >= (5, 12)
    return Check(
        "kernel ≥ 5.12 (nftables owner tables, openat2)",
        ok,
        release,
        "" if ok else "upgrade the kernel to 5.12 or newer",
    )


def _tool(name: str, package: str) -> Check:
    path = shutil.which(name)
    return Check(
        f"{name} command",
        path is not None,
        path or "not found",
        "" if path else f"apt-get install {package}",
    )


def _libnftables() -> Check:
    try:
        ctypes.CDLL("libnftables.so.1")
    except OSError as exc:
        return Check("libnftables", False, str(exc), "apt-get install libnftables1")
    return Check("libnftables", True, "libnftables.so.1 loads")


def _read(path: str) -> str | None:
    try:
        return Path(path).read_text().strip()
    except OSError:
        return None


def _userns() -> Check:
    if _read("/proc/sys/kernel/unprivileged_userns_clone") == "0":
        return Check(
            "unprivileged user namespaces",
            False,
            "disabled by the kernel",
            "sysctl -w kernel.unprivileged_userns_clone=1",
        )
    if _read("/proc/sys/user/max_user_namespaces") == "0":
        return Check(
            "unprivileged user namespaces",
            False,
            "user.max_user_namespaces is 0",
            "sysctl -w user.max_user_namespaces=15000",
        )
    if _read("/proc/sys/kernel/apparmor_restrict_unprivileged_userns") == "1":
        return Check(
            "unprivileged user namespaces",
            False,
            "restricted by AppArmor (Ubuntu 24.04+)",
            "allow podtap with an AppArmor profile (see README), or "
            "sysctl -w kernel.apparmor_restrict_unprivileged_userns=0",
        )
    if shutil.which("unshare") is None:
        return Check(
            "unprivileged user namespaces", False, "unshare not found", "apt-get install util-linux"
        )
    probe = subprocess.run(
        ["unshare", "--user", "--map-root-user", "--net", "true"], capture_output=True, text=True
    )
    if probe.returncode != 0:
        return Check(
            "unprivileged user namespaces",
            False,
            probe.stderr.strip() or "unshare failed",
            "enable user namespaces for your user (sysctl, AppArmor or container settings)",
        )
    return Check("user + network namespaces", True, "unshare --user --net works")


def _fuse() -> Check:
    ok = os.access("/dev/fuse", os.R_OK | os.W_OK)
    return Check(
        "/dev/fuse (remote files as a live view)",
        ok,
        "usable" if ok else "not usable: remote files are served as a snapshot",
        "" if ok else "modprobe fuse (optional)",
        required=False,
    )


def run_checks() -> list[Check]:
    return [
        _kernel(),
        _userns(),
        _tool("nft", "nftables"),
        _libnftables(),
        _tool("ip", "iproute2"),
        _tool("nsenter", "util-linux"),
        _tool("unshare", "util-linux"),
        _tool("mount", "mount"),
        _fuse(),
    ]
