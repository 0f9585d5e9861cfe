"""A session that survives a dropped link to the operator (decisions in core/reconnect.py).

`keep_linked` runs a channel; when its link drops without a `Close` from the operator (an
operator restart, a network blip), it connects again with the same session id, with
growing pauses, and carries the channel on over the new connection: the operator
re-applies the session's subscriptions, so the command's stolen traffic comes back.
While it is away, what was in flight on the old link ends with an error (the app sees a
reset, as in a network blip); new connections, name lookups and requests wait for the new
link, and fail only if the session is given up. Past the unused TTL, or when the operator
says the session is gone (410), the session ends and the caller stops the command."""

from __future__ import annotations

import asyncio
import contextlib
import random
import time
from collections.abc import Callable
from contextlib import AbstractAsyncContextManager

import aiohttp

from podtap.client.host.channel import ClientChannel
from podtap.client.host.operator_api import ClientSession, OperatorRefused
from podtap.core.ids import SessionId
from podtap.core.protocol import Close, CloseReason, HandshakeError
from podtap.core.reconnect import GiveUp, Outage, Retry

Connector = Callable[[SessionId], AbstractAsyncContextManager[ClientSession]]
"""Opens a connection resuming the session with this id (`OperatorApi.connect(resume=…)`)."""

ATTEMPT_TIMEOUT = 10.0  # one connect that hangs (an operator stopped, not gone) is given up


async def keep_linked(
    channel: ClientChannel,
    *,
    reconnect: Connector,
    ttl: float,
    tell: Callable[[str], None],
) -> Close:
    """Run `channel` until its session ends, resuming it on a new connection each time its
    link drops; returns why the session ended. Cancelled, it closes the connection it
    opened last, so the operator ends the session at once."""
    current: AbstractAsyncContextManager[ClientSession] | None = None
    try:
        while True:
            close = await channel.run()
            if not channel.link_lost:
                return close
            await _leave(current)  # the connection that dropped
            current = None
            outage = Outage(
                label=channel.session.label,
                cause=close.message,
                lost_at=time.monotonic(),
                ttl=ttl,
            )
            resumed = await _resume(outage, lambda: reconnect(channel.session.id), tell)
            if isinstance(resumed, GiveUp):
                gone = Close(reason=CloseReason.STATE_LOST, message=resumed.reason)
                channel.give_up(gone)
                return gone
            current, session = resumed
            if session.profile is not None and session.profile != channel.session.profile:
                tell(  # the run keeps the config it started with
                    f"{session.profile.label} changed while the link was down: the operator "
                    "enforces the new one; restart the run to apply it here"
                )
            channel.relink(session)
            tell(outage.resumed(now=time.monotonic()))
    finally:
        await _leave(current)


async def _resume(
    outage: Outage,
    connect: Callable[[], AbstractAsyncContextManager[ClientSession]],
    tell: Callable[[str], None],
) -> tuple[AbstractAsyncContextManager[ClientSession], ClientSession] | GiveUp:
    """Attempts until one resumes the session (its connection, entered, and the session)
    or the outage's policy gives up."""
    verdict: Retry | GiveUp = outage.next(now=time.monotonic(), chance=random.random())
    while isinstance(verdict, Retry):
        if verdict.tell is not None:
            tell(verdict.tell)
        await asyncio.sleep(verdict.pause)
        attempt = connect()
        left = outage.deadline - time.monotonic()
        try:
            async with asyncio.timeout(max(0.1, min(ATTEMPT_TIMEOUT, left))):
                return attempt, await attempt.__aenter__()
        except OperatorRefused as exc:
            now = time.monotonic()
            verdict = outage.refused(exc.status, str(exc), now=now, chance=random.random())
        except (ConnectionError, HandshakeError, aiohttp.ClientError, TimeoutError) as exc:
            error = str(exc) or type(exc).__name__
            verdict = outage.next(now=time.monotonic(), chance=random.random(), error=error)
    return verdict


async def _leave(connection: AbstractAsyncContextManager[ClientSession] | None) -> None:
    """Exit a connection's context: a live one is closed as a clean exit (the operator
    ends the session), a dropped one only lets go of its resources."""
    if connection is not None:
        with contextlib.suppress(Exception):
            await connection.__aexit__(None, None, None)
