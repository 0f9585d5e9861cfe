"""What the operator answers itself, instead of the agent, when a policy refuses a client's
frame: a file a policy hides, keeps local or makes read-only; an outgoing connection a
policy blocks. Pure: the frame and the policies in, the answer (or None: pass it on) out.

Files: ``notFound`` and ``local`` answer ENOENT to an open, a stat and a listing (a
``local`` file is the client's to open on its machine, never the pod's); ``readOnly``
answers EROFS to an open for writing. Outgoing: the connection is checked with the name the
client resolved through the pod (``names``: the agent's answers, address -> name); a
connect by name, where a policy has ``ipBlock`` rules, is refused, since its address would
be known only to the agent."""

from __future__ import annotations

import contextlib
import errno
import ipaddress
import os
import posixpath
from collections.abc import Mapping, Sequence

from podtap.core.policy.access import FileRule, file_open_refusal, file_rule
from podtap.core.policy.matching import FoundPolicy
from podtap.core.policy.outgoing import Connection, outgoing_refusal
from podtap.core.policy.profiles import Fixes
from podtap.core.protocol import (
    Connect,
    ConnectResult,
    FileOpen,
    FileOpenResult,
    FileReadDir,
    FileReadDirResult,
    FileStat,
    FileStatResult,
    FsError,
    Payload,
)

__all__ = ["connect_answer", "file_answer"]

_WRITE = os.O_WRONLY | os.O_RDWR | os.O_CREAT | os.O_TRUNC | os.O_APPEND


def canonical(path: str) -> str:
    """``path`` as the agent resolves it lexically (``.``, ``..``, repeated slashes gone;
    ``..`` stops at the root): what a policy's patterns are matched against, so that
    ``/etc/./secret`` or ``/etc//secret`` is not a way around ``^/etc/secret``."""
    return "/" + posixpath.normpath("/" + path).lstrip("/")


def file_answer(policies: Sequence[FoundPolicy], frame: Payload) -> tuple[Payload, str] | None:
    """The answer to a file frame a policy refuses, and the refusal; None: pass it on."""
    if not isinstance(frame, FileOpen | FileStat | FileReadDir):
        return None
    verdict = file_rule(policies, canonical(frame.path))
    if verdict.rule is FileRule.ALLOWED:
        return None
    write = isinstance(frame, FileOpen) and bool(frame.flags & _WRITE)
    refusal = file_open_refusal(verdict, path=frame.path, write=write)
    if refusal is None:  # read-only, opened to read
        return None
    error = FsError(errno=errno.EROFS if verdict.rule is FileRule.READ_ONLY else errno.ENOENT,
                    message=refusal)  # fmt: skip
    if isinstance(frame, FileOpen):
        return FileOpenResult(request=frame.request, error=error), refusal
    if isinstance(frame, FileStat):
        return FileStatResult(request=frame.request, error=error), refusal
    return FileReadDirResult(request=frame.request, error=error), refusal


def _address(host: str) -> str | None:
    """``host`` as an IP address, or None when it is a name."""
    with contextlib.suppress(ValueError):
        return str(ipaddress.ip_address(host))
    return None


def connect_answer(
    policies: Sequence[FoundPolicy],
    frame: Connect,
    *,
    names: Mapping[str, str],
    fixes: Fixes | None = None,
) -> tuple[ConnectResult, str] | None:
    """The answer to a connect a policy refuses, and the refusal; None: pass it on."""
    host = frame.host
    if (address := _address(host)) is not None:
        conn = Connection(protocol=frame.protocol, address=address, port=frame.port,
                          hostname=names.get(address))  # fmt: skip
        refusal = outgoing_refusal(policies, conn, fixes=fixes)
    else:
        refusal = next(
            (
                f"{p.label} checks outgoing addresses: connect to {host} by the address "
                "resolved through the pod"
                for p in policies
                for rule in (*p.spec.network.outgoing.allow, *p.spec.network.outgoing.block)
                if rule.ip_block is not None
            ),
            None,
        )
        if refusal is None:
            conn = Connection(protocol=frame.protocol, address="0.0.0.0", port=frame.port,
                              hostname=host)  # fmt: skip
            refusal = outgoing_refusal(policies, conn, fixes=fixes)
    if refusal is None:
        return None
    return ConnectResult(stream=frame.stream, ok=False, error=refusal), refusal
