"""Entering namespaces of other processes (pods, the node)."""

from __future__ import annotations


def enter_pod_argv(pid: int, *, workdir: str | None = None, user: bool = False) -> list[str]:
    """nsenter arguments that run a command inside the namespaces held by `pid`: network,
    mount, UTS and the PID namespace its children live in (a pod sandbox)."""
    argv = ["nsenter", f"--target={pid}"]
    if user:
        argv.append("--user")
    argv += ["--net", "--mount", "--uts", f"--pid=/proc/{pid}/ns/pid_for_children"]
    if workdir:
        argv.append(f"--wd={workdir}")
    return [*argv, "--"]


def join_netns(path: str) -> None:
    """Move the calling thread (call it before starting threads or the event loop) into
    the network namespace at `path`, e.g. /proc/PID/ns/net."""
    import ctypes
    import os

    libc = ctypes.CDLL(None, use_errno=True)
    clone_newnet = 0x40000000
    fd = os.open(path, os.O_RDONLY)
    try:
        if libc.setns(fd, clone_newnet) != 0:
            err = ctypes.get_errno()
            raise OSError(err, f"cannot join network namespace {path}: {os.strerror(err)}")
    finally:
        os.close(fd)
