"""Sans-IO HTTP routing for filtered steal: filter matching and the HTTP/1.1 router.

- :class:`CompiledFilter` / :class:`RouteTable`: which session (if any) gets a request;
- :class:`Http1Router`: one intercepted client connection, parsed with h11, requests sent
  to sessions or to the real app, responses returned in order; it answers every input with
  a list of actions (:data:`Action`) for the I/O shell. See ``docs/routing.md``.
"""

from podtap.core.routing.actions import (
    Action,
    CloseApp,
    CloseClient,
    OpenApp,
    RawPassthrough,
    Route,
    SendToApp,
    SendToClient,
    SessionAbort,
    SessionRaw,
    SessionRawEnd,
    SessionRequestBody,
    SessionRequestEnd,
    SessionRequestHead,
    SessionUpgraded,
    ShutdownApp,
    ShutdownClient,
)
from podtap.core.routing.fast1 import Http1FastPath
from podtap.core.routing.http1 import Http1Router, Mode
from podtap.core.routing.http2 import H2_PREFACE, Http2Router, is_h2_preface
from podtap.core.routing.matcher import CompiledFilter, RequestHead, compile_filter
from podtap.core.routing.table import RouteMatch, RouteTable

__all__ = [
    "H2_PREFACE",
    "Action",
    "CloseApp",
    "CloseClient",
    "CompiledFilter",
    "Http1FastPath",
    "Http1Router",
    "Http2Router",
    "Mode",
    "OpenApp",
    "RawPassthrough",
    "RequestHead",
    "Route",
    "RouteMatch",
    "RouteTable",
    "SendToApp",
    "SendToClient",
    "SessionAbort",
    "SessionRaw",
    "SessionRawEnd",
    "SessionRequestBody",
    "SessionRequestEnd",
    "SessionRequestHead",
    "SessionUpgraded",
    "ShutdownApp",
    "ShutdownClient",
    "compile_filter",
    "is_h2_preface",
]
