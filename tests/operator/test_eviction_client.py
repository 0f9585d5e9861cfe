"""A `podtap exec` whose port another session took over (on_concurrent_steal=override) lets
it go: the operator's Unsubscribe toward the client marks it seen but not subscribed, so the
client neither unsubscribes it later nor claims it again."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from pathlib import Path
from typing import Any

from podtap.client.host.incoming import Incoming
from podtap.core.exec_spec import IncomingPlan
from podtap.core.ids import Port, RequestId
from podtap.core.protocol import IncomingMode, Payload, Subscribe, SubscribeResult, Unsubscribe


class Channel:
    """The part of ClientChannel that Incoming uses to subscribe: every Subscribe granted."""

    def __init__(self) -> None:
        self.sent: list[Payload] = []
        self.on_other: Any = None

    async def request(self, make: Callable[[RequestId], Payload]) -> Payload:
        message = make(RequestId(1))
        self.sent.append(message)
        return SubscribeResult(request=RequestId(1), ok=True)

    async def send(self, message: Payload) -> None:
        self.sent.append(message)


def test_an_evicted_port_is_neither_unsubscribed_nor_claimed_again(tmp_path: Path) -> None:
    async def go() -> None:
        channel, told = Channel(), list[str]()
        plan = IncomingPlan(mode=IncomingMode.STEAL, port_mapping=((Port(9333), Port(80)),))
        incoming = Incoming(
            channel,  # type: ignore[arg-type]
            deliver=tmp_path / "deliver.sock",
            plan=plan,
            tell=told.append,
        )
        await incoming._subscribe(9333)
        assert channel.sent == [
            Subscribe(
                request=RequestId(1), port=Port(80), mode=IncomingMode.STEAL, http_filter=None
            )
        ]
        assert await channel.on_other(Unsubscribe(port=Port(80)))  # the operator: port 80 was taken
        await incoming._subscribe(9333)  # the next scan sees the app still listening
        await incoming._unsubscribe(9333)  # the app stops listening
        assert len(channel.sent) == 1, channel.sent
        await incoming.close()

    asyncio.run(go())
