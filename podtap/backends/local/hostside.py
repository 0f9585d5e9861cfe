"""Host-side helpers of `podtap local`: port-forward listeners and one-off pods."""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import signal
from collections.abc import Callable, Sequence

from podtap.backends.local.client import NodeClient
from podtap.backends.local.paths import ClusterPaths
from podtap.net.namespaces import enter_pod_argv
from podtap.net.relay import relay
from podtap.net.tasks import TaskSet


class PortInUse(RuntimeError):
    pass


async def open_forward(
    paths: ClusterPaths, *, namespace: str, target: str, port: int
) -> tuple[asyncio.StreamReader, asyncio.StreamWriter]:
    """A stream connected to `port` of `target` (pod/NAME or svc/NAME) via the node."""
    reader, writer = await asyncio.open_unix_connection(str(paths.forward_socket))
    writer.write(
        json.dumps({"namespace": namespace, "target": target, "port": port}).encode() + b"\n"
    )
    answer = (await reader.readline()).decode().strip()
    if not answer.startswith("OK"):
        writer.close()
        raise ConnectionRefusedError(answer.removeprefix("ERR ") or "the node closed")
    return reader, writer


async def port_forward(
    paths: ClusterPaths,
    *,
    namespace: str,
    target: str,
    local_port: int,
    remote_port: int,
    on_ready: Callable[[int], None],
    on_error: Callable[[str], None],
) -> None:
    """Listen on 127.0.0.1:local_port and relay each connection to the target, until
    SIGINT/SIGTERM or cancellation. `local_port` 0 picks a free port (passed to on_ready)."""
    connections = TaskSet()

    async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        task = asyncio.current_task()
        assert task is not None
        connections.adopt(task)
        try:
            up_r, up_w = await open_forward(
                paths, namespace=namespace, target=target, port=remote_port
            )
        except (OSError, ConnectionError) as exc:
            on_error(f"cannot reach {target}:{remote_port}: {exc}")
            writer.close()
            return
        await relay(reader, writer, up_r, up_w)

    try:
        server = await asyncio.start_server(handle, "127.0.0.1", local_port)
    except OSError as exc:
        raise PortInUse(
            f"cannot listen on 127.0.0.1:{local_port} ({exc.strerror}): choose another local port"
        ) from None
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    async with server:
        on_ready(server.sockets[0].getsockname()[1])
        await stop.wait()
    await connections.close()


async def run_in_pod(
    paths: ClusterPaths,
    *,
    namespace: str,
    argv: Sequence[str],
    on_ready: Callable[[str], None] | None = None,
) -> int:
    """Run `argv` as a short-lived pod; stdio pass through; returns its exit code."""
    client = NodeClient(paths)
    async with client.run_pod(namespace) as pod:
        if on_ready:
            on_ready(pod["pod"])
        env = {
            "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
            "HOME": "/root",
            "HOSTNAME": pod["pod"],
        }
        if term := os.environ.get("TERM"):
            env["TERM"] = term
        full = [*enter_pod_argv(pod["sandbox_pid"], user=os.geteuid() != 0), *argv]
        proc = await asyncio.create_subprocess_exec(*full, env=env)
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(sig, proc.send_signal, sig)
        try:
            code = await proc.wait()
        finally:
            for sig in (signal.SIGINT, signal.SIGTERM):
                loop.remove_signal_handler(sig)
            if proc.returncode is None:
                with contextlib.suppress(ProcessLookupError):
                    proc.kill()
                await proc.wait()
    return code if code >= 0 else 128 - code
