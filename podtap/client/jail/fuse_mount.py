"""Inside the jail: mount FUSE views on remote trees and hand their descriptors out.

/dev/fuse is opened here, inside the jail's user namespace (the kernel refuses a
descriptor opened in another one), mounted read-only with `fd=N`, and sent to `podtap
exec` over a socket pair (SCM_RIGHTS), which answers the requests (client/host/fuse_view.py)."""

from __future__ import annotations

import ctypes
import os
import socket

MS_RDONLY, MS_NOSUID, MS_NODEV = 1, 2, 4


def mount_views(views: list[tuple[bool, str]], *, sock_fd: int) -> None:
    """Mount each (is_dir, path); the descriptors go out on `sock_fd` in the same order."""
    libc = ctypes.CDLL(None, use_errno=True)
    fds: list[int] = []
    try:
        for is_dir, path in views:
            fd = os.open("/dev/fuse", os.O_RDWR | os.O_CLOEXEC)
            fds.append(fd)
            options = (
                f"fd={fd},rootmode={'40000' if is_dir else '100000'},user_id=0,group_id=0,"
                "allow_other,default_permissions"
            )
            flags = MS_RDONLY | MS_NOSUID | MS_NODEV
            if libc.mount(b"podtap", os.fsencode(path), b"fuse.podtap", flags, options.encode()):
                code = ctypes.get_errno()
                raise OSError(code, f"cannot mount a FUSE view on {path}: {os.strerror(code)}")
        with socket.socket(fileno=sock_fd) as sock:
            socket.send_fds(sock, [b"fuse"], fds)
    finally:
        for fd in fds:
            os.close(fd)
