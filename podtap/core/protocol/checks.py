"""Checks of a well-formed request's fields before anyone acts on it.

The codec guarantees what the wire can carry (a port is 0..65535, an id 64 bits, a path
any str); acting needs more: a subscription or a connection needs a real port, a host must
be a name DNS can carry, a path cannot hold a NUL byte, an offset must fit the kernel's
``off_t``. A request that fails is *answered* with its own refusal, never dropped and never
allowed to crash the task serving it: :func:`refusal` builds that answer. The operator uses
it to refuse before a frame reaches the agent, the agent to refuse whatever gets through,
so both say the same words.
"""

from __future__ import annotations

import errno
import ipaddress
from typing import Final

from podtap.core.ids import MAX_PORT
from podtap.core.protocol.dns import GetAddrInfoRequest, GetAddrInfoResponse
from podtap.core.protocol.files import (
    FileOpen,
    FileOpenResult,
    FileRead,
    FileReadDir,
    FileReadDirResult,
    FileReadResult,
    FileStat,
    FileStatResult,
    FsError,
)
from podtap.core.protocol.incoming import Subscribe, SubscribeResult
from podtap.core.protocol.messages import Payload
from podtap.core.protocol.outgoing import Connect, ConnectResult

MAX_HOST_NAME: Final = 253
MAX_LABEL: Final = 63
MAX_OFFSET: Final = 2**63 - 1
"""The largest file offset the kernel takes (``off_t``)."""
MAX_FLAGS: Final = 2**31 - 1


def port_problem(port: int) -> str | None:
    """Why ``port`` cannot be subscribed to or connected to (port 0 names no service)."""
    if not 1 <= port <= MAX_PORT:
        return f"port {port} is not a service port (1..{MAX_PORT})"
    return None


def host_problem(host: str) -> str | None:
    """Why ``host`` is neither an IP address nor a name DNS can carry, or None."""
    if not host:
        return "empty host name"
    try:
        ipaddress.ip_address(host)
    except ValueError:
        pass
    else:
        return None
    name = host.removesuffix(".")
    if len(name) > MAX_HOST_NAME:
        return f"host name of {len(name)} characters is longer than {MAX_HOST_NAME}"
    for label in name.split("."):
        if not label:
            return f"host name {host!r} has an empty label"
        if len(label) > MAX_LABEL:
            return f"host name label {label[:16]}... is longer than {MAX_LABEL} characters"
    try:
        name.encode("idna")  # what the resolver will need; also rejects surrogate escapes
    except UnicodeError as exc:
        return f"host name {host!r} is not valid: {exc}"
    return None


def _path_problem(path: str) -> str | None:
    return "path contains a NUL byte" if "\0" in path else None


def request_problem(message: Payload) -> str | None:
    """Why ``message``'s fields cannot be served, or None (also for non-requests)."""
    if isinstance(message, Subscribe):
        return port_problem(message.port)
    if isinstance(message, Connect):
        return port_problem(message.port) or host_problem(message.host)
    if isinstance(message, GetAddrInfoRequest):
        return host_problem(message.host)
    if isinstance(message, FileOpen):
        if not 0 <= message.flags <= MAX_FLAGS:
            return f"open flags {message.flags} out of range"
        return _path_problem(message.path)
    if isinstance(message, FileStat | FileReadDir):
        return _path_problem(message.path)
    if isinstance(message, FileRead) and not 0 <= message.offset <= MAX_OFFSET:
        return f"offset {message.offset} is beyond the largest file offset"
    return None


def refusal(message: Payload, problem: str) -> Payload | None:
    """The answer that refuses request ``message`` because of ``problem`` (None: no answer
    exists for this type, e.g. ``FileClose``)."""
    if isinstance(message, Subscribe):
        return SubscribeResult(request=message.request, ok=False, error=problem)
    if isinstance(message, Connect):
        return ConnectResult(stream=message.stream, ok=False, error=problem)
    if isinstance(message, GetAddrInfoRequest):
        return GetAddrInfoResponse(request=message.request, addresses=(), error=problem)
    error = FsError(errno=errno.EINVAL, message=problem)
    if isinstance(message, FileOpen):
        return FileOpenResult(request=message.request, handle=None, error=error)
    if isinstance(message, FileRead):
        return FileReadResult(request=message.request, data=b"", error=error)
    if isinstance(message, FileStat):
        return FileStatResult(request=message.request, stat=None, error=error)
    if isinstance(message, FileReadDir):
        return FileReadDirResult(request=message.request, entries=(), error=error)
    return None


def refuse_if_invalid(message: Payload) -> Payload | None:
    """The refusal to answer ``message`` with if its fields cannot be served, else None."""
    problem = request_problem(message)
    return None if problem is None else refusal(message, problem)
