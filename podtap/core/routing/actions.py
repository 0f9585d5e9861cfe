"""What :class:`~podtap.core.routing.http1.Http1Router` asks its I/O shell to do.

Every input method of the router returns a list of these actions; the shell performs them
in order. ``route`` is the opaque session key returned by the router's ``route`` callable.
"""

from __future__ import annotations

from collections.abc import Hashable
from dataclasses import dataclass
from typing import TypeAlias

from podtap.core.ids import RequestId
from podtap.core.protocol.incoming import Headers
from podtap.core.routing.matcher import RequestHead

Route: TypeAlias = Hashable | None
"""Where a request goes: a session key (any hashable value), or ``None`` for the real app."""


@dataclass(frozen=True, slots=True)
class OpenApp:
    """Open the connection to the real app; ``SendToApp`` actions that follow wait for it.

    If it cannot be opened, call ``app_eof()``.
    """


@dataclass(frozen=True, slots=True)
class SendToApp:
    data: bytes


@dataclass(frozen=True, slots=True)
class SendToClient:
    data: bytes


@dataclass(frozen=True, slots=True)
class CloseClient:
    """Write what was sent so far, then close the client connection (both directions)."""


@dataclass(frozen=True, slots=True)
class CloseApp:
    """Write what was sent so far, then close the app connection (both directions).

    Deliver nothing more from that connection to the router: a later ``OpenApp`` means a
    new connection.
    """


@dataclass(frozen=True, slots=True)
class ShutdownClient:
    """Half-close: write what was sent so far, then EOF towards the client; keep reading."""


@dataclass(frozen=True, slots=True)
class ShutdownApp:
    """Half-close: write what was sent so far, then EOF towards the app; keep reading."""


@dataclass(frozen=True, slots=True)
class RawPassthrough:
    """From now on relay bytes between client and app unparsed (the app is open).

    Everything the client sent before was already given to ``SendToApp`` actions, so the
    app sees the stream unchanged. The shell may keep calling the router (it then turns
    ``client_data`` into ``SendToApp``, ``app_data`` into ``SendToClient`` and EOFs into
    ``Shutdown*``) or relay by itself.
    """


@dataclass(frozen=True, slots=True)
class SessionRequestHead:
    route: Hashable
    request_id: RequestId
    head: RequestHead


@dataclass(frozen=True, slots=True)
class SessionRequestBody:
    """Body bytes of the request (chunked encoding already removed)."""

    route: Hashable
    request_id: RequestId
    data: bytes


@dataclass(frozen=True, slots=True)
class SessionRequestEnd:
    route: Hashable
    request_id: RequestId
    trailers: Headers = ()


@dataclass(frozen=True, slots=True)
class SessionAbort:
    """The exchange is abandoned (client left or broke the request); stop answering it."""

    route: Hashable
    request_id: RequestId


@dataclass(frozen=True, slots=True)
class SessionUpgraded:
    """The session's 101 (or 2xx to CONNECT) reached the client: the connection is now a
    raw byte stream between the client and this session (``SessionRaw`` / ``session_raw``)."""

    route: Hashable
    request_id: RequestId


@dataclass(frozen=True, slots=True)
class SessionRaw:
    """Client bytes after an upgrade to ``route``."""

    route: Hashable
    data: bytes


@dataclass(frozen=True, slots=True)
class SessionRawEnd:
    """The client half-closed the upgraded connection (EOF after its last ``SessionRaw``)."""

    route: Hashable


Action: TypeAlias = (
    OpenApp
    | SendToApp
    | SendToClient
    | CloseClient
    | CloseApp
    | ShutdownClient
    | ShutdownApp
    | RawPassthrough
    | SessionRequestHead
    | SessionRequestBody
    | SessionRequestEnd
    | SessionAbort
    | SessionUpgraded
    | SessionRaw
    | SessionRawEnd
)
