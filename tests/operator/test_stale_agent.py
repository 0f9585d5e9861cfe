"""An agent that refuses the operator's token (one adopted from an earlier operator that
started it with a token of its own): the operator drops it and starts a new one, and says so
in one line when even a new one refuses (fake cluster and agents: no root)."""

from __future__ import annotations

import asyncio
from dataclasses import replace
from pathlib import Path

import pytest

from podtap.backends.base import AgentEndpoint, AgentStartFailed, ResolvedTarget, TargetRef
from podtap.core.ids import new_session_id
from podtap.operator.agents import AgentLink, AgentManager
from podtap.testing.fakebackend import FakeCluster

SHOP = Path(__file__).parents[2] / "examples" / "shop"


class Adopting(FakeCluster):
    """Its first `stale` agents come with a token they do not accept (as an adopted agent
    started under another token)."""

    stale = 1

    async def start_agent(
        self, resolved: ResolvedTarget, *, token: str, socket_path: str
    ) -> AgentEndpoint:
        endpoint = await super().start_agent(resolved, token=token, socket_path=socket_path)
        if self.stale:
            self.stale -= 1
            return replace(endpoint, token="not-the-agents-token")
        return endpoint


async def _acquire(cluster: Adopting, tmp_path: Path) -> tuple[AgentManager, AgentLink]:
    async def on_lost(link: AgentLink) -> None:
        raise AssertionError("no link is lost here")

    manager = AgentManager(cluster, run_dir=tmp_path, on_lost=on_lost)
    resolved = await cluster.resolve(TargetRef("deployment", "shop"), namespace="default")
    try:
        return manager, await manager.acquire(resolved, new_session_id(), lambda payload: None)
    except BaseException:
        await manager.close()
        raise


def test_an_agent_refusing_the_token_is_replaced_by_a_new_one(tmp_path: Path) -> None:
    async def go() -> None:
        cluster = Adopting.from_files(SHOP)
        manager, link = await _acquire(cluster, tmp_path)
        try:
            assert link.endpoint.token != "not-the-agents-token"
            assert list(cluster.agents) == [link.endpoint.handle]  # the stale one stopped
        finally:
            await manager.close()
            await cluster.close()

    asyncio.run(go())


def test_a_new_agent_refusing_it_too_fails_the_start_in_one_line(tmp_path: Path) -> None:
    async def go() -> None:
        cluster = Adopting.from_files(SHOP)
        cluster.stale = 2
        try:
            with pytest.raises(AgentStartFailed) as failed:
                await _acquire(cluster, tmp_path)
            message = str(failed.value)
            assert message.startswith("the agent for pod default/shop-")
            assert message.endswith("refused the operator's token: it was not started by this "
                                    "operator")  # fmt: skip
            assert not cluster.agents
        finally:
            await cluster.close()

    asyncio.run(go())
