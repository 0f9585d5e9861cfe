"""May a session subscribe to a port: ``block``, the required header filter, the profile.

Rules, per applying policy in order (several policies: the union of their blocks and of
their patterns, so the first that refuses answers):

1. ``steal`` / ``mirror`` in ``block`` refuse that mode;
2. ``steal-without-filter`` (or a ``headerFilter`` requirement, which implies it) refuses a
   steal with no HTTP filter;
3. ``network.incoming.httpFilter.headerFilter``: a steal's filter must hold a header filter
   the pattern matches as a whole (case-insensitively, as header filters match): the top
   filter's own header, or, in ``all_of``, at least one item; in ``any_of``, every item that
   is a header filter, and at least one must be.

Then the profile: one that fixed incoming to ``mirror`` refuses a steal, ``off`` refuses both.
"""

from __future__ import annotations

from collections.abc import Sequence

from podtap.core.policy.matching import FoundPolicy
from podtap.core.policy.models import Blocked
from podtap.core.policy.profiles import Fixes
from podtap.core.protocol import HttpFilter, IncomingMode
from podtap.core.safe_regex import FilterRegex, compile_filter_regex

__all__ = ["carries_header", "subscribe_refusal"]

_NO_FILTER = HttpFilter()


def _whole(pattern: str) -> FilterRegex:
    return compile_filter_regex(f"^(?:{pattern})$", ignore_case=True)


def carries_header(flt: HttpFilter, rx: FilterRegex) -> bool:
    """Whether every request ``flt`` matches carries a header filter ``rx`` accepts."""
    if flt.header is not None and rx.search(flt.header):
        return True
    if any(carries_header(item, rx) for item in flt.all_of):
        return True
    headers = [item for item in flt.any_of if item.header is not None]
    return bool(headers) and all(carries_header(item, rx) for item in headers)


def _policy_refusal(
    policy: FoundPolicy, *, mode: IncomingMode, flt: HttpFilter | None, target: str
) -> str | None:
    spec, who = policy.spec, policy.label
    if mode is IncomingMode.MIRROR:
        return f"{who} blocks mirror on {target}" if Blocked.MIRROR in spec.block else None
    if Blocked.STEAL in spec.block:
        return f"{who} blocks steal on {target}: use feature.network.incoming.mode mirror"
    required = spec.network.incoming.http_filter.header_filter
    unfiltered = flt is None or flt == _NO_FILTER
    if unfiltered and (Blocked.STEAL_WITHOUT_FILTER in spec.block or required is not None):
        return (
            f"{who} blocks steal without an HTTP filter on {target}: "
            "set feature.network.incoming.http_filter"
        )
    if required is not None and flt is not None and not carries_header(flt, _whole(required)):
        return (
            f"{who} requires a steal on {target} to filter on a header matching {required!r} "
            "(all_of: at least one item; any_of: every header item)"
        )
    return None


def subscribe_refusal(
    policies: Sequence[FoundPolicy],
    *,
    mode: IncomingMode,
    http_filter: HttpFilter | None,
    target: str,
    fixes: Fixes | None = None,
) -> str | None:
    """Why a ``mode`` subscription with ``http_filter`` on ``target`` (its path, for the
    text) is refused, or None when it is allowed. ``policies``: those that apply."""
    for policy in policies:
        refusal = _policy_refusal(policy, mode=mode, flt=http_filter, target=target)
        if refusal is not None:
            return refusal
    if fixes is None or fixes.incoming is None or fixes.incoming.value == mode.value:
        return None
    if fixes.incoming.value == "off":
        return f"{fixes.profile} turns incoming traffic off: {mode} is refused"
    return f"{fixes.profile} makes incoming {fixes.incoming.value}: {mode} is refused"
