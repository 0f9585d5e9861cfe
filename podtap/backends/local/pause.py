"""The pod sandbox's first process (like Kubernetes' pause container).

Started by the node inside fresh network, mount, UTS and PID namespaces, it sets the
hostname, mounts the pod's files (resolv.conf, hosts, hostname, ConfigMap and Secret
volumes) into its private mount namespace, says "ready" and waits. Every process of the
pod lives in its PID namespace, so when it dies the kernel ends them all."""

from __future__ import annotations

import ctypes
import json
import os
import signal
import subprocess
import sys
from pathlib import Path
from typing import Any

from podtap.net.mounts import ensure_mountpoint, mount


def _reap(*_: object) -> None:
    """As PID 1 of the pod, collect orphans that were re-parented to us."""
    try:
        while os.waitpid(-1, os.WNOHANG)[0] > 0:
            pass
    except ChildProcessError:
        pass


def _under(path: str, top: str) -> bool:
    return path == top or path.startswith(top.rstrip("/") + "/")


def bind_order(mounts: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The binds in an order where none hides the source of a later one: a volume bound on
    /tmp would hide every other volume's source when the node keeps its state under /tmp
    (an emptyDir at /tmp and a Secret at /etc/tls: the Secret's files were gone). A bind
    waits for the binds whose sources lie below its target; the others keep their order."""
    left, done = list(mounts), []
    while left:
        ready = next(
            (
                m
                for m in left
                if not any(o is not m and _under(o["source"], m["target"]) for o in left)
            ),
            left[0],  # a cycle (a source below its own target): as given
        )
        left.remove(ready)
        done.append(ready)
    return done


MS_BIND = 4096


def _bind_fd(libc: ctypes.CDLL, fd: int, target: str) -> None:
    """Bind the directory open as `fd` (opened before the volumes hid it) on `target`: the
    kernel follows /proc/self/fd/N to the directory itself, whatever is mounted over its
    path now (the mount command would look the path up again, and find the volume)."""
    Path(target).mkdir(parents=True, exist_ok=True)
    if libc.mount(f"/proc/self/fd/{fd}".encode(), target.encode(), None, MS_BIND, None) != 0:
        raise OSError(ctypes.get_errno(), f"cannot bind podtap's own {target} back")


def main() -> None:
    spec = json.loads(Path(sys.argv[1]).read_text())
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))
    signal.signal(signal.SIGCHLD, _reap)
    hostname = spec["hostname"].encode()
    libc = ctypes.CDLL(None, use_errno=True)
    if libc.sethostname(hostname, len(hostname)) != 0:
        raise OSError(ctypes.get_errno(), "sethostname failed")
    scratch = Path(spec["scratch"])
    scratch.mkdir(parents=True, exist_ok=True)
    try:
        for m in spec["mounts"]:  # first every mount point: an overlay would hide binds
            source = Path(m["source"])
            ensure_mountpoint(Path(m["target"]), is_dir=source.is_dir(), scratch=scratch)
        runtime = {p: os.open(p, os.O_PATH) for p in spec.get("runtime", []) if Path(p).is_dir()}
        for m in bind_order(spec["mounts"]):
            mount("--bind", m["source"], m["target"])
            if m.get("read_only"):
                mount("-o", "remount,bind,ro", m["target"])
        for path, fd in runtime.items():  # podtap's own install, if a volume hid it
            if any(_under(path, m["target"]) and path != m["target"] for m in spec["mounts"]):
                _bind_fd(libc, fd, path)
            os.close(fd)
    except (OSError, RuntimeError, subprocess.CalledProcessError) as exc:
        detail = exc.stderr if isinstance(exc, subprocess.CalledProcessError) else str(exc)
        print(f"error: {detail}".strip(), flush=True)
        sys.exit(1)
    print("ready", flush=True)
    while True:
        signal.pause()


if __name__ == "__main__":
    main()
