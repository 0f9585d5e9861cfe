"""Inside the jail: the network and mount namespaces the developer's app runs in.

Started by `podtap exec` through `unshare --user --map-root-user --net --mount`. It brings
up lo, routes everything via lo, redirects every non-loopback TCP connection (and the
loopback ports the outgoing filter names) to a proxy here, answers DNS on 127.0.0.53 with a
stub (jail_dns.py), bind-mounts the generated resolv.conf, nsswitch.conf and hosts, then
runs the app. Proxy and stub reach the outside only through the bridge: a Unix socket of
the parent `podtap exec`, which holds the session with the operator and makes the
connections the filter keeps local.

The jail lives exactly as long as its `podtap exec`: it holds the read end of a pipe whose
write end only the client has (`--owner-fd`), and end of input there means the client is
gone, even by SIGKILL. It is a child subreaper, so what the command starts and leaves behind
stays below it; when the command ends or the client goes, everything below it is killed, and
when the client went the jail removes the client's temporary directory too (through a
directory descriptor opened outside this mount namespace, `--cleanup-fd`)."""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import select
import shutil
import signal
import socket
import subprocess
import sys
import threading
from dataclasses import dataclass, field
from pathlib import Path

from podtap.client.fs_hide import hide_paths
from podtap.client.fuse_mount import mount_views
from podtap.client.jail_dns import STUB, Stub, ask_bridge, mount_name_service
from podtap.client.jail_udp import UdpFlows, setup_udp, transparent_socket
from podtap.net.mounts import ensure_mountpoint, mount
from podtap.net.origdst import original_destination
from podtap.net.process import become_subreaper, die_with_parent, kill_descendants
from podtap.net.relay import relay
from podtap.net.tasks import TaskSet

DELIVER_MARK = 0x4  # the jail's own connections to the app: never redirected


def _setup_network(proxy_port: int, loopback_ports: list[int]) -> None:
    subprocess.run(["ip", "link", "set", "lo", "up"], check=True)
    subprocess.run(["ip", "route", "add", "default", "dev", "lo", "src", "127.0.0.1"], check=True)
    loopback = (
        f"    ip daddr 127.0.0.0/8 tcp dport {{ {', '.join(map(str, loopback_ports))} }} "
        f"meta mark != {DELIVER_MARK} redirect to :{proxy_port}\n"
        if loopback_ports
        else ""
    )
    rules = (
        "table ip podtap_jail {\n"
        "  chain out {\n    type nat hook output priority -100; policy accept;\n"
        f"    ip daddr != 127.0.0.0/8 meta l4proto tcp redirect to :{proxy_port}\n"
        f"{loopback}  }}\n}}\n"
    )
    subprocess.run(["nft", "-f", "-"], input=rules, text=True, check=True)


def _mount_files(
    mounts: list[tuple[str, ...]],
    *,
    hide: list[str],
    views: list[tuple[bool, str]],
    views_sock: int | None,
    scratch: Path,
) -> None:
    """The pod's files (copies, or FUSE `views`) on their own paths, read-only, in this
    mount namespace; `hide`: paths of this machine made absent (feature.fs not_found)."""
    scratch.mkdir(exist_ok=True)
    hide_paths(hide, scratch=scratch)  # overlays first: they would hide binds below them
    ours = [Path(remote).is_relative_to(scratch.parent) for _, remote in mounts]
    for (local, remote), in_copy in zip(mounts, ours, strict=True):
        if not in_copy:  # then every mount point: an overlay would hide binds
            ensure_mountpoint(Path(remote), is_dir=Path(local).is_dir(), scratch=scratch)
    for is_dir, path in views:
        ensure_mountpoint(Path(path), is_dir=is_dir, scratch=scratch)
    if views_sock is not None:
        mount_views(views, sock_fd=views_sock)
    for (local, remote), in_copy in zip(mounts, ours, strict=True):
        mount("--rbind", local, remote)  # binds into a copy come first (`local` rules)
        if not in_copy:
            mount("-o", "remount,bind,ro", remote)


async def _deliver(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    """The parent delivers stolen traffic: connect to the app's port inside the jail."""
    request = json.loads(await reader.readline() or b"{}")
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_MARK, DELIVER_MARK)
    sock.setblocking(False)
    try:
        await asyncio.get_running_loop().sock_connect(sock, ("127.0.0.1", int(request["port"])))
        app_reader, app_writer = await asyncio.open_connection(sock=sock)
    except (OSError, KeyError, ValueError):
        sock.close()
        writer.close()
        return
    try:
        await relay(reader, writer, app_reader, app_writer)
    except asyncio.CancelledError:
        writer.transport.abort()


@dataclass(frozen=True, slots=True)
class Owner:
    """The `podtap exec` this jail belongs to: a pipe it never writes to, and a descriptor
    of the directory holding its temporary directory `temp`."""

    pipe: int
    cleanup_dir: int | None
    temp: str
    _ending: threading.Lock = field(default_factory=threading.Lock)

    def watch(self) -> None:
        """From now on, the client's end (at any stage: setup may wait on it forever)
        kills everything below the jail, removes the client's directory and ends the jail."""
        threading.Thread(target=self._wait, name="owner watch", daemon=True).start()

    def _wait(self) -> None:
        with contextlib.suppress(OSError):
            while os.read(self.pipe, 4096):
                pass
        self.end_if_gone()

    def end_if_gone(self) -> None:
        """If the client is gone, clean up after it and exit (the command's end wakes the
        main thread too: whichever comes first does it, the other waits)."""
        with self._ending:
            if select.select([self.pipe], [], [], 0)[0]:  # readable, never written: EOF
                kill_descendants(os.getpid())
                if self.cleanup_dir is not None:
                    with contextlib.suppress(OSError):
                        shutil.rmtree(self.temp, dir_fd=self.cleanup_dir)
                os._exit(128 + signal.SIGKILL)


async def _run_app(argv: list[str], *, uid: int, gid: int) -> int:
    """Run the command; when it exits, nothing it started is left (as in a pod)."""
    # The app runs in a nested user namespace as the developer's own uid/gid: it has no
    # capability over the jail's rules and mounts, and files it creates are the user's.
    drop = ["unshare", f"--map-user={uid}", f"--map-group={gid}", "--"]
    app = await asyncio.create_subprocess_exec(*drop, *argv, preexec_fn=die_with_parent)
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, app.send_signal, sig)
    try:
        return await app.wait()
    finally:
        kill_descendants(os.getpid())


async def _serve(
    bridge: str,
    argv: list[str],
    deliver: str,
    *,
    uid: int,
    gid: int,
    mounts: list[tuple[str, ...]],
    hide: list[str],
    views: list[tuple[bool, str]],
    views_sock: int | None,
    name_service: dict[str, str],
    loopback_ports: list[int],
) -> int:
    async def proxy(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            await forward(reader, writer)
        except asyncio.CancelledError:  # the app exited with connections still open
            writer.transport.abort()

    async def forward(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        host, port = original_destination(writer.get_extra_info("socket"))
        up_reader, up_writer, answer = await ask_bridge(
            bridge, {"op": "connect", "host": host, "port": port}
        )
        if not answer.get("ok"):
            where = answer.get("where", "from the pod")
            print(f"podtap: {host}:{port} {where}: {answer.get('error')}", file=sys.stderr)
            writer.transport.abort()  # the app sees a reset, as a refusal would look
            up_writer.close()
            return
        await relay(reader, writer, up_reader, up_writer)

    server = await asyncio.start_server(proxy, "127.0.0.1", 0, family=socket.AF_INET)
    _setup_network(server.sockets[0].getsockname()[1], loopback_ports)
    scratch = Path(deliver).parent / "scratch"
    _mount_files(mounts, hide=hide, views=views, views_sock=views_sock, scratch=scratch)
    # last: an overlay made for a file's mount point would hide them
    mount_name_service(name_service, scratch=scratch)
    loop = asyncio.get_running_loop()
    stub = Stub(bridge)
    stub_transport, _ = await loop.create_datagram_endpoint(lambda: stub, local_addr=(STUB, 53))
    deliver_server = await asyncio.start_unix_server(_deliver, path=deliver)
    tasks = TaskSet()
    udp = transparent_socket()
    setup_udp(udp.getsockname()[1])
    tasks.spawn(UdpFlows(udp, bridge).run(), name="udp flows")
    try:
        return await _run_app(argv, uid=uid, gid=gid)
    finally:
        await tasks.close()
        deliver_server.close()
        stub_transport.close()
        await stub.close()
        server.close()


def main() -> None:
    parser = argparse.ArgumentParser(description="podtap exec's jail (internal)")
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
        owner = Owner(args.owner_fd, args.cleanup_fd, Path(args.deliver).parent.name)
        owner.watch()
    try:
        code = asyncio.run(
            _serve(
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
