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
