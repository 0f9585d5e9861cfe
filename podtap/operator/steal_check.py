"""The check a connect passes before its command starts: no port it will steal is held."""

from __future__ import annotations

import time
from collections.abc import Sequence

from podtap.core.arbitration import PortSubscription, start_refusal
from podtap.core.ids import SessionId
from podtap.core.protocol import IncomingMode
from podtap.operator.settings import ConnectOptions, StartRefused


def refuse_held_steals(
    held: Sequence[PortSubscription],
    session: SessionId | None,
    options: ConnectOptions,
    *,
    owner: str,
) -> None:
    """StartRefused if a port the session will steal is `held` (the other sessions'
    subscriptions on its pod) and on_concurrent_steal is abort: the run stops before its
    command starts."""
    now = time.time()
    wanted = [
        PortSubscription(
            session=session if session is not None else SessionId(0),
            user=owner,
            since=now,
            mode=IncomingMode.STEAL,
            http_filter=flt,
            port=port,
        )
        for port, flt in options.steals
    ]
    refusal = start_refusal(held, wanted, on_concurrent_steal=options.on_concurrent_steal, now=now)
    if refusal is not None:
        raise StartRefused(refusal.message)
