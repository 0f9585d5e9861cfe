"""Inside the jail: the network and mount namespaces the developer's app runs in.

Started by `podtap exec` through `unshare --user --map-root-user --net --mount` (see
`__main__.py`). It brings up lo, routes everything via lo, redirects every non-loopback TCP
connection (and the loopback ports the outgoing filter names) to a proxy here, answers DNS
on 127.0.0.53 with a stub (dns.py), catches UDP (udp.py), mounts the pod's files and the
generated resolv.conf, nsswitch.conf and hosts, then runs the app. Proxy, stub and UDP
flows reach the outside only through the bridge (client/bridge.py): a Unix socket of the
parent `podtap exec`, which holds the session with the operator and makes the connections
the filter keeps local. Stolen traffic comes in on the jail's own socket (`deliver`)."""

from __future__ import annotations

import asyncio
import os
import signal
import socket
import subprocess
import sys
from pathlib import Path

from podtap.client.bridge import Connect, Deliver, Opened, Refused, ask, receive
from podtap.client.jail.dns import STUB, Stub, mount_name_service
from podtap.client.jail.fs_hide import hide_paths
from podtap.client.jail.fuse_mount import mount_views
from podtap.client.jail.udp import UdpFlows, setup_udp, transparent_socket
from podtap.net.mounts import ensure_mountpoint, mount
from podtap.net.origdst import original_destination
from podtap.net.process import die_with_parent, kill_descendants
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
    request = await receive(reader)
    if not isinstance(request, Deliver):
        writer.close()
        return
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_MARK, DELIVER_MARK)
    sock.setblocking(False)
    try:
        await asyncio.get_running_loop().sock_connect(sock, ("127.0.0.1", request.port))
        app_reader, app_writer = await asyncio.open_connection(sock=sock)
    except (OSError, ValueError):
        sock.close()
        writer.close()
        return
    try:
        await relay(reader, writer, app_reader, app_writer)
    except asyncio.CancelledError:
        writer.transport.abort()


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


async def serve(
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
        up_reader, up_writer, answer = await ask(bridge, Connect(host=host, port=port))
        if isinstance(answer, Refused):
            print(f"podtap: {host}:{port} {answer.where}: {answer.error}", file=sys.stderr)
        if not isinstance(answer, Opened):
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
