"""`pods/exec` and `pods/attach` over WebSocket, as kubectl 1.37 speaks them.

The subprotocol is `v5.channel.k8s.io` (or v4): every binary message starts with a channel
byte — 0 stdin, 1 stdout, 2 stderr, 3 error, 4 resize — and v5 adds 255, "close": `[255, 0]`
is the client's end of stdin. Channel 3 carries one Status when the command ends: Success,
or Failure with reason NonZeroExitCode and the code as the `ExitCode` cause, which kubectl
turns into its own exit code. With a TTY the command gets a pseudo-terminal (stderr goes to
it too) and resize messages (`{"Width": W, "Height": H}`) set its window size.

Exec runs the command in the pod's namespaces with nsenter, as the container itself runs.
Attach is the cheap kind: the node keeps no open stdin for containers, so attaching follows
the container's output from now on until it stops, and ignores stdin.
"""

from __future__ import annotations

import asyncio
import contextlib
import fcntl
import json
import os
import signal
import struct
import termios
from typing import TYPE_CHECKING

from aiohttp import WSMsgType, web

from podtap.backends.local.kubeapi.status import bad_request
from podtap.net.process import die_with_parent
from podtap.net.tasks import TaskSet

if TYPE_CHECKING:
    from podtap.backends.local.kubeapi.pod_access import PodAccess

PROTOCOLS = ("v5.channel.k8s.io", "v4.channel.k8s.io")
STDIN, STDOUT, STDERR, ERROR, RESIZE, CLOSE = 0, 1, 2, 3, 4, 255
_TRUE = ("true", "1", "True")
FIRST_RESIZE_WAIT = 1.0


def exit_status(code: int, argv: list[str]) -> dict[str, object]:
    """The Status of channel 3 for a command that ended with `code`."""
    if code == 0:
        return {"metadata": {}, "status": "Success"}
    return {
        "metadata": {},
        "status": "Failure",
        "message": (
            f"command terminated with non-zero exit code: error executing command {argv}, "
            f"exit code {code}"
        ),
        "reason": "NonZeroExitCode",
        "details": {"causes": [{"reason": "ExitCode", "message": str(code)}]},
    }


def failure(message: str) -> dict[str, object]:
    return {"metadata": {}, "status": "Failure", "message": message, "reason": "InternalError"}


async def _upgrade(request: web.Request) -> web.WebSocketResponse:
    ws = web.WebSocketResponse(protocols=PROTOCOLS, autoping=True, max_msg_size=0)
    if not ws.can_prepare(request).ok:
        raise bad_request("Upgrade request required: pods/exec and pods/attach speak WebSocket")
    await ws.prepare(request)
    return ws


async def serve(
    request: web.Request,
    access: PodAccess,
    namespace: str,
    pod: str,
    container: str,
    *,
    attach: bool,
) -> web.StreamResponse:
    q = request.query
    argv = q.getall("command", [])
    if attach:
        if not access.running(namespace, pod, container):
            raise bad_request(f'container "{container}" in pod "{pod}" is not running')
        ws = await _upgrade(request)
        await _attach(ws, access, namespace, pod, container)
        return ws
    if not argv:
        raise bad_request("you must specify at least 1 command")
    try:
        enter, env = access.exec_argv(namespace, pod, container)
    except LookupError as e:
        raise bad_request(str(e)) from e
    ws = await _upgrade(request)
    session = _Exec(ws, tty=q.get("tty") in _TRUE, stdin=q.get("stdin") in _TRUE)
    try:
        code = await session.run([*enter, *argv], env)
        await _send(ws, ERROR, json.dumps(exit_status(code, argv)).encode())
    except OSError as e:
        await _send(ws, ERROR, json.dumps(failure(f"cannot run {argv}: {e}")).encode())
    await ws.close()
    return ws


async def _send(ws: web.WebSocketResponse, channel: int, data: bytes) -> None:
    with contextlib.suppress(ConnectionError, RuntimeError):
        await ws.send_bytes(bytes([channel]) + data)


async def _attach(
    ws: web.WebSocketResponse, access: PodAccess, namespace: str, pod: str, container: str
) -> None:
    tasks = TaskSet()
    gone = tasks.spawn(_drain(ws), name="attach: client messages")
    path = access.log_path(namespace, pod, container)
    try:
        with open(path, "rb") as fh:
            fh.seek(0, 2)
            while not gone.done():
                chunk = fh.read(65536)
                if chunk:
                    await _send(ws, STDOUT, chunk)
                elif not access.running(namespace, pod, container):
                    break
                else:
                    await asyncio.sleep(0.2)
        await _send(ws, ERROR, json.dumps(exit_status(0, [])).encode())
        await ws.close()
    finally:
        await tasks.close()


async def _drain(ws: web.WebSocketResponse) -> None:
    async for msg in ws:
        if msg.type in (WSMsgType.CLOSE, WSMsgType.ERROR):
            return


class _Exec:
    """One command's stdio bridged to the channels of one WebSocket."""

    def __init__(self, ws: web.WebSocketResponse, *, tty: bool, stdin: bool) -> None:
        self.ws, self.tty, self.stdin = ws, tty, stdin
        self.proc: asyncio.subprocess.Process | None = None
        self.master: int | None = None
        self.slave: int | None = None
        self.transport: asyncio.BaseTransport | None = None
        self.sized = asyncio.Event()

    async def run(self, argv: list[str], env: dict[str, str]) -> int:
        tasks = TaskSet()
        try:
            if self.tty:  # kubectl sends the terminal's size first: start the command at it
                self.master, self.slave = os.openpty()
                client = tasks.spawn(self._from_client(), name="exec: client messages")
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self.sized.wait(), FIRST_RESIZE_WAIT)
            pumps = await self._start(argv, env, tasks)
            assert self.proc is not None
            if not self.tty:
                client = tasks.spawn(self._from_client(), name="exec: client messages")
            waited = tasks.spawn(self.proc.wait(), name="exec: command")
            await asyncio.wait({client, waited}, return_when=asyncio.FIRST_COMPLETED)
            if not waited.done():  # the client went away first
                self._kill()
            code = await waited
            await asyncio.wait(pumps, timeout=2)
            return code if code >= 0 else 128 - code
        finally:
            self._kill()
            await tasks.close()
            if self.transport is not None:
                self.transport.close()
            for fd in (self.master, self.slave):
                if fd is not None:
                    with contextlib.suppress(OSError):
                        os.close(fd)

    async def _start(
        self, argv: list[str], env: dict[str, str], tasks: TaskSet
    ) -> list[asyncio.Task[None]]:
        loop = asyncio.get_running_loop()
        if self.tty:
            assert self.master is not None and self.slave is not None
            slave, self.slave = self.slave, None
            try:
                self.proc = await asyncio.create_subprocess_exec(
                    *argv, stdin=slave, stdout=slave, stderr=slave, env=env,
                    preexec_fn=_controlling_tty, start_new_session=True,
                )  # fmt: skip
            finally:
                os.close(slave)
            reader = asyncio.StreamReader()
            pipe = os.fdopen(os.dup(self.master), "rb", buffering=0)
            self.transport, _ = await loop.connect_read_pipe(
                lambda: asyncio.StreamReaderProtocol(reader), pipe
            )
            return [tasks.spawn(self._pump(reader, STDOUT), name="exec: tty")]
        self.proc = await asyncio.create_subprocess_exec(
            *argv,
            stdin=asyncio.subprocess.PIPE if self.stdin else asyncio.subprocess.DEVNULL,
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.PIPE,
            env=env,
            preexec_fn=die_with_parent,
            start_new_session=True,
        )
        assert self.proc.stdout is not None and self.proc.stderr is not None
        return [
            tasks.spawn(self._pump(self.proc.stdout, STDOUT), name="exec: stdout"),
            tasks.spawn(self._pump(self.proc.stderr, STDERR), name="exec: stderr"),
        ]

    async def _pump(self, reader: asyncio.StreamReader, channel: int) -> None:
        while True:
            try:
                chunk = await reader.read(65536)
            except OSError:  # EIO: the terminal's last holder is gone
                return
            if not chunk:
                return
            await _send(self.ws, channel, chunk)

    async def _from_client(self) -> None:
        async for msg in self.ws:
            if msg.type in (WSMsgType.CLOSE, WSMsgType.ERROR):
                return
            if msg.type != WSMsgType.BINARY or not msg.data:
                continue
            channel, data = msg.data[0], msg.data[1:]
            if channel == STDIN:
                await self._write(data)
            elif channel == RESIZE and self.master is not None:
                self._resize(data)
            elif channel == CLOSE and data[:1] == bytes([STDIN]):
                self._close_stdin()

    async def _write(self, data: bytes) -> None:
        if self.master is not None:
            view = memoryview(data)
            while view:
                try:
                    view = view[os.write(self.master, view) :]
                except BlockingIOError:
                    await asyncio.sleep(0.01)
            return
        stdin = self.proc.stdin if self.proc else None
        if stdin is not None and not stdin.is_closing():
            stdin.write(data)
            with contextlib.suppress(ConnectionError):
                await stdin.drain()

    def _resize(self, data: bytes) -> None:
        with contextlib.suppress(ValueError, KeyError, TypeError, OSError):
            size = json.loads(data)
            packed = struct.pack("HHHH", int(size["Height"]), int(size["Width"]), 0, 0)
            assert self.master is not None
            fcntl.ioctl(self.master, termios.TIOCSWINSZ, packed)
            self.sized.set()

    def _close_stdin(self) -> None:
        if self.master is not None:
            with contextlib.suppress(OSError):
                os.write(self.master, b"\x04")
        elif self.proc is not None and self.proc.stdin is not None:
            self.proc.stdin.close()

    def _kill(self) -> None:
        if self.proc is not None and self.proc.returncode is None:
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.killpg(self.proc.pid, signal.SIGKILL)


def _controlling_tty() -> None:
    die_with_parent()
    fcntl.ioctl(0, termios.TIOCSCTTY, 0)
