"""Filtered steal: HTTP requests routed per request (placeholder until the router lands)."""

from __future__ import annotations

import asyncio
from typing import TYPE_CHECKING

from podtap.core.protocol import BodyChunk, BodyEnd, HttpResponseHead
from podtap.net.relay import ByteReader, relay

if TYPE_CHECKING:
    from podtap.agent.incoming import IncomingTraffic
    from podtap.core.subscriptions import PortPlan

SESSION_REPLIES = (HttpResponseHead, BodyChunk, BodyEnd)


async def serve_filtered(
    incoming: IncomingTraffic,
    plan: PortPlan,
    reader: ByteReader,
    writer: asyncio.StreamWriter,
    *,
    peer: tuple[str, int],
    local: tuple[str, int],
) -> None:
    from podtap.agent.incoming import connect_app

    up_reader, up_writer = await connect_app(*local)
    await relay(reader, writer, up_reader, up_writer)
