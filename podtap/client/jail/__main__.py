"""`python -m podtap.client.jail`: the jail's entry, started by `podtap exec` (host side,
`execute.py`) inside `unshare --user --map-root-user --net --mount`. Its options say what to
set up; it ties itself to its client (owner.py), serves (serve.py) and exits with the
command's code (127: the command is not found, 125: the jail could not be set up)."""

from __future__ import annotations

import argparse
import asyncio
import os
import subprocess
import sys
from pathlib import Path

from podtap.client.jail.owner import Owner
from podtap.client.jail.serve import serve
from podtap.net.process import become_subreaper


def main() -> None:
    parser = argparse.ArgumentParser(
        prog="python -m podtap.client.jail", description="podtap exec's jail (internal)"
    )
    parser.add_argument("--bridge", required=True)
    parser.add_argument("--resolv", required=True, help="mounted on /etc/resolv.conf")
    parser.add_argument("--hosts", help="mounted on /etc/hosts")
    parser.add_argument("--nsswitch", help="mounted on /etc/nsswitch.conf")
    parser.add_argument(
        "--loopback-port",
        type=int,
        action="append",
        default=[],
        help="a loopback TCP port handed to the bridge (the outgoing filter names it)",
    )
    parser.add_argument("--deliver", required=True)
    parser.add_argument(
        "--mount",
        action="append",
        default=[],
        help="LOCAL:REMOTE: a copy of a pod path, mounted read-only",
    )
    parser.add_argument(
        "--hide", action="append", default=[], help="a path made absent (fs not_found)"
    )
    parser.add_argument(
        "--fuse", action="append", default=[], help="d:PATH or f:PATH: a FUSE view there"
    )
    parser.add_argument("--fuse-sock", type=int, help="fd the FUSE descriptors go out on")
    parser.add_argument("--owner-fd", type=int, help="end of input here: the client is gone")
    parser.add_argument("--cleanup-fd", type=int, help="directory fd of the client's temp dir")
    parser.add_argument("--uid", type=int, required=True)
    parser.add_argument("--gid", type=int, required=True)
    parser.add_argument("argv", nargs=argparse.REMAINDER)
    args = parser.parse_args()
    argv = args.argv[1:] if args.argv[:1] == ["--"] else args.argv
    become_subreaper()  # what the command leaves running stays below us, to be killed
    owner = None
    if args.owner_fd is not None:
        temp = Path(args.deliver).parent
        owner = Owner(pipe=args.owner_fd, cleanup_dir=args.cleanup_fd, temp_path=temp)
        owner.watch()
    try:
        code = asyncio.run(
            serve(
                args.bridge,
                argv,
                args.deliver,
                uid=args.uid,
                gid=args.gid,
                mounts=[tuple(m.split(":", 1)) for m in args.mount],
                hide=args.hide,
                views=[(v[0] == "d", v[2:]) for v in args.fuse],
                views_sock=args.fuse_sock,
                name_service={
                    target: source
                    for target, source in (
                        ("/etc/nsswitch.conf", args.nsswitch),
                        ("/etc/hosts", args.hosts),
                        ("/etc/resolv.conf", args.resolv),
                    )
                    if source
                },
                loopback_ports=args.loopback_port,
            )
        )
    except FileNotFoundError as exc:
        print(f"podtap: cannot run {argv[0]!r}: {exc.strerror}", file=sys.stderr)
        code = 127
    except (OSError, subprocess.CalledProcessError) as exc:
        print(f"podtap: cannot set up the jail: {exc}", file=sys.stderr)
        code = 125
    if owner is not None:
        owner.end_if_gone()
    sys.exit(code if code >= 0 else 128 - code)


if __name__ == "__main__":
    os.environ.pop("PODTAP_JAIL", None)
    main()
