"""The operator's API and relay over the in-memory cluster: the real operator, its real
clients and the real protocol, with fake agents in this process. No root, no cluster:
`test_these_tests_pass_as_a_user_who_is_not_root` runs this module again as uid 65534."""

from __future__ import annotations

import asyncio
import os
import shutil
import stat
import subprocess
import sys
import tempfile
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path

import pytest

from podtap.client.host.operator_api import OperatorAddress, OperatorApi
from podtap.core.ids import Port, RequestId
from podtap.core.protocol import (
    Close,
    CloseReason,
    Data,
    EnvRequest,
    EnvResponse,
    HttpFilter,
    IncomingMode,
    NewConnection,
    Subscribe,
    SubscribeResult,
)
from podtap.net.tasks import TaskSet
from podtap.operator.service import OperatorService
from podtap.testing.agentproc import SessionPeer
from podtap.testing.fakebackend import FakeCluster
from podtap.testing.fakedev import serve_connections, serve_requests, text_reply
from podtap.testing.opclient import operator_session
from podtap.testing.wait import async_wait_until
from tests.operator.inproc import OnePodCluster, operator

NOBODY = 65534
ALICE = HttpFilter(header=r"^x-user: alice$")
BOB = HttpFilter(header=r"^x-user: bob$")


@dataclass
class Running:
    service: OperatorService
    cluster: FakeCluster
    address: OperatorAddress

    @property
    def api(self) -> OperatorApi:
        return OperatorApi(self.address)


@asynccontextmanager
async def running(state: Path) -> AsyncIterator[Running]:
    cluster = OnePodCluster(agents=True)
    async with operator(state, cluster=cluster) as (service, sock):
        yield Running(service, cluster, OperatorAddress(f"unix:{sock}"))


def run(state: Path, test: Callable[[Running], Awaitable[None]]) -> None:
    async def go() -> None:
        async with running(state) as op:
            await test(op)

    asyncio.run(go())


async def subscribe(
    peer: SessionPeer, flt: HttpFilter | None = None, mode: IncomingMode = IncomingMode.STEAL
) -> SubscribeResult:
    await peer.send(Subscribe(request=RequestId(1), port=Port(8000), mode=mode, http_filter=flt))
    return await peer.expect(SubscribeResult, timeout=2)


def test_targets_are_listed_with_their_readiness(tmp_path: Path) -> None:
    async def test(op: Running) -> None:
        listed = await op.api.call("GET", "/namespaces/default/targets")
        items = {i["target"]: i["ready"] for i in listed["items"]}
        pod = op.cluster.pod("web").plan.name
        assert items == {"deployment/web": True, f"pod/{pod}": True}
        op.cluster.set_ready("web", False)
        listed = await op.api.call("GET", "/namespaces/default/targets")
        assert not any(i["ready"] for i in listed["items"])

    run(tmp_path, test)


def test_connect_and_hello_open_a_session_of_the_caller_on_its_pod(tmp_path: Path) -> None:
    async def test(op: Running) -> None:
        async with operator_session(op.address, "deployment/web") as (session, _):
            record = op.service.records[session.id]
            assert (
                record.principal == f"unix:{os.getuid()}"
                and record.pod == op.cluster.pod("web").plan.name
            )
            assert op.cluster.agent("web").sessions == {}  # nothing said to the agent yet
            assert len(op.cluster.agents) == 1

    run(tmp_path, test)


def test_an_unready_target_is_refused_before_the_upgrade(tmp_path: Path) -> None:
    async def test(op: Running) -> None:
        op.cluster.set_ready("web", False)
        with pytest.raises(Exception, match="no ready pod") as refused:
            async with operator_session(op.address, "deployment/web"):
                pass
        assert getattr(refused.value, "status", None) == 409
        assert op.service.records == {}

    run(tmp_path, test)


def test_an_env_request_is_answered_from_the_pods_container(tmp_path: Path) -> None:
    async def test(op: Running) -> None:
        async with operator_session(op.address, "deployment/web") as (_, peer):
            await peer.send(EnvRequest(request=RequestId(7)))
            answer = await peer.expect(EnvResponse, timeout=2)
            assert answer.request == 7 and answer.error is None
            assert answer.env["GREETING"] == "hello"
            assert answer.env["HOSTNAME"] == op.cluster.pod("web").plan.name

    run(tmp_path, test)


def test_a_second_whole_steal_is_refused_naming_the_holder_and_ends_its_run(
    tmp_path: Path,
) -> None:
    async def test(op: Running) -> None:
        tasks = TaskSet()
        async with (
            operator_session(op.address, "deployment/web") as (held, alice),
            operator_session(op.address, "deployment/web") as (_, bob),
        ):
            assert (await subscribe(alice)).ok
            refused = await subscribe(bob)
            assert not refused.ok and refused.error and held.label in refused.error
            close = await bob.expect(Close, timeout=2)
            assert close.reason == CloseReason.OTHER and held.label in close.message
            agent = op.cluster.agent("web")
            assert agent.subscribed() == {8000: [(held.id, IncomingMode.STEAL)]}
            tasks.spawn(serve_connections(alice, b"alice's laptop"), name="alice")
            conn = await agent.connection(8000, b"GET / HTTP/1.1\r\nHost: web\r\n\r\n")
            assert conn is not None
            assert (await conn.read_until(b"alice's laptop")).endswith(b"alice's laptop")
            await asyncio.wait_for(conn.closed.wait(), 2)
            await tasks.close()

    run(tmp_path, test)


def test_filtered_steals_share_the_port_and_each_gets_its_requests(tmp_path: Path) -> None:
    async def test(op: Running) -> None:
        tasks = TaskSet()
        async with (
            operator_session(op.address, "deployment/web") as (_, alice),
            operator_session(op.address, "deployment/web") as (_, bob),
        ):
            assert (await subscribe(alice, ALICE)).ok and (await subscribe(bob, BOB)).ok
            tasks.spawn(serve_requests(alice, text_reply("alice's")), name="alice")
            tasks.spawn(serve_requests(bob, text_reply("bob's")), name="bob")
            agent = op.cluster.agent("web")
            for user in ("alice", "bob"):
                exchange = await agent.request(8000, "GET", "/", ((b"x-user", user.encode()),))
                assert exchange is not None
                await asyncio.wait_for(exchange.done.wait(), 2)
                assert exchange.head is not None and exchange.head.status == 200
                assert bytes(exchange.body) == f"{user}'s".encode()
            assert await agent.request(8000, "GET", "/", ((b"x-user", b"carol"),)) is None
            await tasks.close()

    run(tmp_path, test)


def test_a_mirror_gets_a_copy_of_what_a_stealer_gets(tmp_path: Path) -> None:
    async def test(op: Running) -> None:
        async with (
            operator_session(op.address, "deployment/web") as (_, thief),
            operator_session(op.address, "deployment/web") as (_, mirror),
        ):
            assert (await subscribe(thief)).ok
            assert (await subscribe(mirror, mode=IncomingMode.MIRROR)).ok
            await op.cluster.agent("web").connection(8000, b"hello")
            for peer, mode in ((thief, IncomingMode.STEAL), (mirror, IncomingMode.MIRROR)):
                assert (await peer.expect(NewConnection, timeout=2)).mode == mode
                assert (await peer.expect(Data, timeout=2)).data == b"hello"

    run(tmp_path, test)


def test_kill_ends_the_session_tells_its_client_and_frees_its_port(tmp_path: Path) -> None:
    async def test(op: Running) -> None:
        async with operator_session(op.address, "deployment/web") as (session, peer):
            assert (await subscribe(peer)).ok
            killed = await op.api.call("DELETE", f"/sessions/{session.label}")
            assert killed == {"killed": [session.label]}
            close = await peer.expect(Close, timeout=2)
            assert close.reason == CloseReason.KILLED and "Killed by" in close.message
            assert op.service.records == {}
            agent = op.cluster.agent("web")
            await async_wait_until(lambda: agent.subscribed() == {}, timeout=2, what="port freed")

    run(tmp_path, test)


def test_status_shows_the_sessions_their_ports_and_the_agents(tmp_path: Path) -> None:
    async def test(op: Running) -> None:
        async with operator_session(op.address, "deployment/web") as (session, peer):
            assert (await subscribe(peer, ALICE)).ok
            status = await op.api.call("GET", "/operators/operator")
            pod = op.cluster.pod("web").plan.name
            assert status["agents"] == [f"default/{pod}"]
            (shown,) = status["sessions"]
            assert shown["id"] == session.label and shown["connected"]
            assert shown["ports"] == "8000 steal header=^x-user: alice$"
        status = await op.api.call("GET", "/operators/operator")
        assert status["sessions"] == []

    run(tmp_path, test)


def test_a_lost_agent_ends_its_sessions_with_agent_failed(tmp_path: Path) -> None:
    async def test(op: Running) -> None:
        async with operator_session(op.address, "deployment/web") as (_, peer):
            await peer.send(EnvRequest(request=RequestId(1)))
            await peer.expect(EnvResponse, timeout=2)
            await op.cluster.agent("web").stop()
            close = await peer.expect(Close, timeout=2)
            assert close.reason == CloseReason.AGENT_FAILED

    run(tmp_path, test)


def _reachable_by_others(path: Path) -> bool:
    real = path.resolve()
    return all(os.stat(p).st_mode & stat.S_IXOTH for p in (real, *real.parents))


def test_these_tests_pass_as_a_user_who_is_not_root() -> None:
    repo = Path(__file__).resolve().parents[2]
    if os.geteuid() != 0 or shutil.which("setpriv") is None:
        pytest.skip("run as root with setpriv: this test re-runs the module as uid 65534")
    if not (_reachable_by_others(repo) and _reachable_by_others(Path(sys.executable))):
        pytest.skip(f"uid {NOBODY} cannot reach {repo} or {sys.executable} (run scripts/setup)")
    scratch = Path(tempfile.mkdtemp(prefix="pt-nobody-"))  # pytest's tmp_path is root's
    os.chown(scratch, NOBODY, NOBODY)
    try:
        result = subprocess.run(
            [
                *("setpriv", f"--reuid={NOBODY}", f"--regid={NOBODY}", "--clear-groups", "--"),
                *(sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider"),
                *(str(Path(__file__).relative_to(repo)), "-k", "not not_root"),
                *("--basetemp", str(scratch / "tmp")),
            ],
            cwd=repo,
            env={**os.environ, "HOME": str(scratch), "PYTHONDONTWRITEBYTECODE": "1"},
            capture_output=True,
            text=True,
            timeout=120,
        )
    finally:
        shutil.rmtree(scratch, ignore_errors=True)
    assert result.returncode == 0, result.stdout + result.stderr
    assert " passed" in result.stdout and "skipped" not in result.stdout
